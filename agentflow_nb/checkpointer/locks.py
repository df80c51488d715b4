"""Exclusive locks between processes on a lock file, on every OS.

`flock` where `fcntl` exists (Linux, macOS), `msvcrt.locking` on Windows, and otherwise a
fallback that works with neither: the lock is a file created with `O_EXCL` that holds the
owner's process id and host. A lock file left behind is taken over: one naming a process of
this host that no longer runs, and one naming no owner at all (left by a crash between creating
and writing it, or by a process of another lock kind) once it is older than `UNOWNED_GRACE`, the
time its creator has to write its owner. Processes using different kinds of lock on one folder
do not keep each other out. A blocking wait that polls (msvcrt, the fallback) gives up after
`WAIT_LIMIT` seconds with a `TimeoutError` naming the file. The OS lock modules are imported
where used, so importing the package works everywhere.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from agentflow_nb.checkpointer.paths import identity, open_file

__all__ = ["UNOWNED_GRACE", "WAIT_LIMIT", "FileLock", "backend"]

#: Polling interval bounds of a blocking msvcrt or fallback lock.
_POLL_FIRST, _POLL_MAX = 0.0005, 0.05
#: Seconds a fallback lock file may name no owner before it counts as left behind.
UNOWNED_GRACE = 2.0
#: Seconds a blocking msvcrt or fallback lock waits for its holder before a `TimeoutError`.
WAIT_LIMIT = 30.0


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
    than the hold). With `keep_open` (flock only), the lock file stays open between holds, so
    taking the lock again costs one `lstat` (is the file at `path` still the one open?) instead
    of an open and a close; `close()` or dropping the object closes it.
    """

    def __init__(self, path: Path, *, named: bool = True, keep_open: bool = False) -> None:
        self.path = path
        self.named = named
        self.kind = backend()
        self.keep_open = keep_open and self.kind == "fcntl"
        self._fd: int | None = None
        #: The lock file kept open: its fd, device and inode, the process that opened it, its closer.
        self._kept: tuple[int, tuple[int, int], int, weakref.finalize] | None = None
        self._threads = threading.Lock()  # `hold` from several threads of this process

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self, *, blocking: bool) -> bool:
        """Take the lock; without `blocking`, return False at once if another holder has it.

        Raises:
            TimeoutError: `blocking`, and a msvcrt or fallback lock stayed held for `WAIT_LIMIT`
                seconds (a flock wait is the kernel's, and ends when its holder lets go or dies).
        """
        if self._fd is not None:
            raise RuntimeError(f"lock `{self.path}` is already held by this object")
        if self.kind == "fcntl":
            fd = self._flock(blocking)
        else:
            fd = self._poll(self._msvcrt if self.kind == "msvcrt" else self._exclusive, blocking)
        if fd is None:
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        """Let the lock go (nothing happens when it is not held)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if self._kept is not None and self._kept[0] == fd:
            _module("fcntl").flock(fd, _module("fcntl").LOCK_UN)  # the file stays open for the next hold
            return
        if self.kind == "msvcrt":
            msvcrt = _module("msvcrt")
            os.lseek(fd, 0, os.SEEK_SET)
            with contextlib.suppress(OSError):
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        elif self.kind == "exclusive-file" and _is_open_file(self.path, fd):  # not another's lock
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        os.close(fd)  # closing also drops a flock

    def close(self) -> None:
        """Close the lock file kept open between holds (the lock must not be held)."""
        kept, self._kept = self._kept, None
        if kept is not None:
            kept[3]()  # closes it, once

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
        fd = self._kept_fd()
        if fd is None:
            fd = open_file(self.path, os.O_RDWR | os.O_CREAT)
            if self.keep_open:
                opened = os.fstat(fd)
                closer = weakref.finalize(self, _close_quietly, fd)
                self._kept = (fd, (opened.st_dev, opened.st_ino), os.getpid(), closer)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if self._kept is None:
                os.close(fd)
            return None
        except BaseException:
            self.close() if self._kept is not None else os.close(fd)
            raise
        if self.named:
            _write_owner(fd)
        return fd

    def _kept_fd(self) -> int | None:
        """The lock file kept open, while it is still the file at `path` (not removed or
        replaced meanwhile, nor a link put there) and this process opened it (a forked child
        shares the parent's open file, and a flock on it would be the parent's lock too). Else
        it is closed (in this process), and None."""
        if self._kept is None:
            return None
        try:
            now = os.lstat(self.path)
        except FileNotFoundError:
            now = None
        if (now is None or not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != self._kept[1]
                or self._kept[2] != os.getpid()):
            self.close()
            return None
        return self._kept[0]

    def _poll(self, attempt: Callable[[], int | None], blocking: bool) -> int | None:
        """Try `attempt` until it takes the lock; once without `blocking`, else until `WAIT_LIMIT`."""
        deadline = time.monotonic() + WAIT_LIMIT
        pause = _POLL_FIRST
        while True:
            fd = attempt()
            if fd is not None or not blocking:
                return fd
            if time.monotonic() > deadline:
                owner = self.owner()
                raise TimeoutError(
                    f"lock file `{self.path}` is still held{f' by {owner}' if owner else ''} after "
                    f"{WAIT_LIMIT:.0f} s; if no process using this folder is running, delete that file"
                )
            time.sleep(pause)
            pause = min(pause * 2, _POLL_MAX)

    def _msvcrt(self) -> int | None:
        msvcrt = _module("msvcrt")
        fd = open_file(self.path, os.O_RDWR | os.O_CREAT)
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # one byte past the pid is enough
        except OSError:
            os.close(fd)
            return None
        return fd

    def _exclusive(self) -> int | None:
        for _ in range(3):  # a lock file left behind is moved away, then the lock tried again
            try:
                fd = open_file(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL)
            except FileExistsError:
                try:
                    left = self._left_behind()
                except FileNotFoundError:  # let go meanwhile: try again
                    continue
                if left is None:
                    return None
                self._take_over(left)
                continue
            _write_owner(fd)
            return fd
        return None

    def _left_behind(self) -> os.stat_result | None:
        """The lock file's identity when its holder cannot be shown alive (None: held): it names
        a process of this host that no longer runs, or no owner and is older than `UNOWNED_GRACE`.

        Raises:
            FileNotFoundError: the lock file is gone (let go meanwhile).
        """
        fd = open_file(self.path, os.O_RDONLY)
        with os.fdopen(fd, "rb") as handle:
            seen = os.fstat(fd)
            text = handle.read(256).decode(errors="replace").split()
        if len(text) >= 2 and text[0].isdigit():
            return seen if text[1] == socket.gethostname() and not _alive(int(text[0])) else None
        # no owner: its creator may be about to write it, unless it has had the time to
        return seen if time.time() - seen.st_mtime > UNOWNED_GRACE else None

    def _take_over(self, seen: os.stat_result) -> None:
        """Remove the lock file left behind, unless a live holder's lock replaced it since it was
        judged: it is renamed aside first and put back if it is not the file judged."""
        aside = self.path.with_name(f"{self.path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.stale")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:  # another process took it over first
            return
        try:
            if identity(os.lstat(aside)) != identity(seen):
                try:
                    os.link(aside, self.path)  # never over the lock of yet another holder
                except FileExistsError:
                    pass
                except OSError:  # no hard links here
                    if not os.path.lexists(self.path):
                        os.rename(aside, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(aside)


def _close_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def _alive(pid: int) -> bool:
    """Whether process `pid` of this host runs (True when there is no way to tell)."""
    if os.name == "nt":  # there `os.kill` would end the process: no way to tell
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, ValueError, OverflowError):  # alive but not ours, or no way to tell
        return True
    return True


def _is_open_file(path: Path, fd: int) -> bool:
    """Whether `path` is still the file open as `fd` (a lock taken over is not)."""
    try:
        now = os.lstat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (opened.st_dev, opened.st_ino)


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
