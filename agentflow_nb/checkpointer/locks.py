"""Exclusive locks between processes on a lock file, on every OS.

`flock` where `fcntl` exists (Linux, macOS), `msvcrt.locking` on Windows, and otherwise a
fallback that works with neither: the lock is a file created with `O_EXCL` that holds the
owner's host and process id, and one whose owner died on this host is taken over. The OS lock
modules are imported where used, so importing the package works everywhere.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agentflow_nb.checkpointer.paths import open_file

__all__ = ["FileLock", "backend"]

#: Polling interval bounds of a blocking fallback lock (the only waiting there is).
_POLL_FIRST, _POLL_MAX = 0.0005, 0.05


def backend() -> str:
    """The lock this process uses: `"fcntl"`, `"msvcrt"` or `"exclusive-file"`."""
    if _module("fcntl") is not None:
        return "fcntl"
    if _module("msvcrt") is not None:
        return "msvcrt"
    return "exclusive-file"


def _module(name: str) -> Any:
    try:
        return __import__(name)
    except ImportError:
        return None


class FileLock:
    """An exclusive lock named by `path`; `acquire(blocking=False)` returns whether it got it.

    The owner's process id is written into the lock so that errors can name it (`owner()`),
    unless `named=False` (a lock only ever held for a moment, where the write would cost more
    than the hold).
    """

    def __init__(self, path: Path, *, named: bool = True) -> None:
        self.path = path
        self.named = named
        self.kind = backend()
        self._fd: int | None = None
        self._threads = threading.Lock()  # `hold` from several threads of this process

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self, *, blocking: bool) -> bool:
        """Take the lock; without `blocking`, return False at once if another holder has it."""
        if self._fd is not None:
            raise RuntimeError(f"lock `{self.path}` is already held by this object")
        take = {"fcntl": self._flock, "msvcrt": self._msvcrt}.get(self.kind, self._exclusive)
        fd = take(blocking)
        if fd is None:
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        """Let the lock go (nothing happens when it is not held)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if self.kind == "msvcrt":
            msvcrt = _module("msvcrt")
            os.lseek(fd, 0, os.SEEK_SET)
            with contextlib.suppress(OSError):
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        elif self.kind == "exclusive-file":
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        os.close(fd)  # closing also drops a flock

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Hold the lock (blocking) for a `with` block; threads of this process take turns."""
        with self._threads:
            self.acquire(blocking=True)
            try:
                yield
            finally:
                self.release()

    def owner(self) -> str:
        """Who holds the lock, as its holder wrote it (e.g. `pid 4242`), or ''."""
        try:
            text = self.path.read_text(errors="replace").split()
        except OSError:
            return ""
        return f"pid {text[0]}" if text and text[0].isdigit() else ""

    # -- the three kinds ------------------------------------------------------------------

    def _flock(self, blocking: bool) -> int | None:
        fcntl = _module("fcntl")
        fd = open_file(self.path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        if self.named:
            _write_owner(fd)
        return fd

    def _msvcrt(self, blocking: bool) -> int | None:
        msvcrt = _module("msvcrt")
        fd = open_file(self.path, os.O_RDWR | os.O_CREAT)
        while True:
            try:
                os.lseek(fd, 0, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # one byte past the pid is enough
                break
            except OSError:
                if not blocking:
                    os.close(fd)
                    return None
                time.sleep(_POLL_FIRST)
        return fd

    def _exclusive(self, blocking: bool) -> int | None:
        pause = _POLL_FIRST
        while True:
            try:
                fd = open_file(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL)
            except FileExistsError:
                if self._holder_is_gone():
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self.path)
                    continue
                if not blocking:
                    return None
                time.sleep(pause)
                pause = min(pause * 2, _POLL_MAX)
                continue
            _write_owner(fd)
            return fd

    def _holder_is_gone(self) -> bool:
        """True when the lock file names a process of this host that no longer runs."""
        try:
            pid, host = self.path.read_text(errors="replace").split()[:2]
        except (OSError, ValueError):
            return False  # being written right now, or unreadable: assume held
        if host != socket.gethostname() or not pid.isdigit():
            return False
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except (OSError, ValueError):  # alive but not ours, or no way to tell
            return False
        return False


def _write_owner(fd: int) -> None:
    """Write who holds the lock, padded to a fixed width: written over what a former holder
    left, never cut first (on ext4 a file cut to nothing then written again is flushed to disk
    when closed, which costs a lock as much as an fsync). Nothing is written when the lock
    already names this process, as it does when one process runs a thread again and again."""
    line = f"{os.getpid()} {socket.gethostname()}\n".encode().ljust(_OWNER_WIDTH)
    os.lseek(fd, 0, os.SEEK_SET)
    if os.read(fd, len(line)) == line:
        return
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, line)


_OWNER_WIDTH = 80  # a pid, a host name and padding (readers take the first two words)
