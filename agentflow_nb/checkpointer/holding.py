"""Holding a thread of the file store across processes: its lock file, stop requests, and
what a store keeps between runs of a thread (its append file, where it left the file).

A lock file per thread (`locks.FileLock`: flock, msvcrt or an exclusive file) keeps a second
process from running the same thread; a folder-wide gate keeps a stop probe, which takes a
thread's lock for a moment, from making a run find its thread busy. A `.stop` file carries
`stop()` across processes: a run looks for it when it saves a step (already off the event loop)
and at a node boundary only if no save looked since. A store that left a thread's file as it
is when it takes the thread again trusts what it knows of the file: its newest checkpoint
(`ahead`), and the append file it kept open. Anything else that wrote, cut or replaced the file
meanwhile changes its identity (device, inode, size, modification time), and then nothing kept
is used.
"""

from __future__ import annotations

import os
import threading
import weakref
from pathlib import Path
from typing import NamedTuple

from agentflow_nb._sync import off_loop
from agentflow_nb.checkpointer.base import BaseCheckpointer
from agentflow_nb.checkpointer.lines import cut_torn_tail
from agentflow_nb.checkpointer.locks import FileLock
from agentflow_nb.checkpointer.paths import SUFFIX, file_name, identity, refuse_link, touch, unlink
from agentflow_nb.errors import ThreadBusyError

__all__ = ["GATE", "KEEP_OPEN", "Appender", "HeldThreads"]

#: A lock every run and stop probe of the folder holds for the moment it takes or tests a
#: thread's lock, so that a probe never makes a run find its thread momentarily locked.
GATE = ".agentflow-gate"
#: Append files kept open between runs, on POSIX (a run of the thread again then opens nothing;
#: on Windows an open file could not be replaced or removed by anyone else meanwhile).
KEEP_OPEN = 16 if os.name != "nt" else 0
#: Thread file names a store keeps (made again when forgotten).
KEEP_NAMES = 1024


class Appender(NamedTuple):
    """A thread file open for appending, and which file that is (an open file's never changes)."""

    fd: int
    file: tuple[int, int]  # device and inode


class HeldThreads(BaseCheckpointer):
    """The run control of `FileCheckpointer`: leases and stop requests that reach other
    processes, and what the store keeps between runs of a thread."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._guard = threading.Lock()
        self._locks: dict[str, FileLock] = {}
        self._gate = FileLock(self.path / GATE, named=False, keep_open=True)
        self._files: dict[str, Path] = {}
        self._sides: dict[tuple[str, str], Path] = {}
        self._appenders: dict[str, Appender] = {}  # most recently used thread last
        self._lock_files: dict[str, FileLock] = {}  # kept between runs, as `_appenders`
        weakref.finalize(self, _close_all, self._appenders)  # a store dropped closes what it kept
        #: Per thread, the file's identity right after this store wrote its newest checkpoint
        #: (a pause, a stop, an end), and that checkpoint's id: see `ahead`.
        self._tails: dict[str, tuple[tuple[int, ...], str]] = {}
        #: Threads held by this store whose file was, when taken, as this store had left it.
        self._as_left: set[str] = set()
        #: Threads whose stop file was looked for (by a step's save) since the run last asked.
        self._probed: set[str] = set()

    def file_for(self, thread_id: str) -> Path:
        """The JSONL file of a thread: its id percent-encoded, upper-case letters too, so that
        ids differing only in case get different files on case-insensitive disks."""
        known = self._files.get(thread_id)
        if known is None:
            if len(self._files) >= KEEP_NAMES:  # names are cheap to make again
                self._files.clear()
                self._sides.clear()
            known = self._files[thread_id] = self.path / f"{file_name(thread_id)}{SUFFIX}"
        return known

    def _side(self, thread_id: str, suffix: str) -> Path:
        """The thread's `.lock` or `.stop` file (asked for at every step: kept)."""
        key = (thread_id, suffix)
        side = self._sides.get(key)
        if side is None:
            side = self._sides[key] = self.file_for(thread_id).with_suffix(suffix)
        return side

    async def ahead(self, thread_id: str) -> str | None:
        """The newest checkpoint's id if this store wrote it last: the file is the one it wrote,
        as it left it (same device, inode, size and modification time); else None. While this
        store holds the thread and found the file so when it took it, nobody else can have
        written it since: no need to look again."""
        tail = self._tails.get(thread_id)
        if tail is None:
            return None
        if thread_id in self._as_left and thread_id in self._locks:
            return tail[1]
        return await off_loop(self._head, thread_id, tail)

    def _head(self, thread_id: str, tail: tuple[tuple[int, ...], str]) -> str | None:
        try:
            now = identity(os.stat(self.file_for(thread_id), follow_symlinks=False))
        except OSError:
            return None
        return tail[1] if now == tail[0] else None

    # -- leases and stop requests --------------------------------------------------------

    async def _acquire(self, thread_id: str) -> None:
        await super()._acquire(thread_id)
        try:
            await off_loop(self._lock, thread_id)
        except BaseException:
            await self._release(thread_id)
            raise

    async def _release(self, thread_id: str) -> None:
        await off_loop(self._unlock, thread_id)
        await super()._release(thread_id)

    async def ais_running(self, thread_id: str) -> bool:
        """True while a run in this or another process holds the thread."""
        return await super().ais_running(thread_id) or await off_loop(self._held_elsewhere, thread_id)

    async def arequest_stop(self, thread_id: str) -> bool:
        """Ask the run holding the thread, in any process, to stop at its next node boundary."""
        if await super().arequest_stop(thread_id):
            return True
        return await off_loop(self._held_elsewhere, thread_id, True)

    async def aconsume_stop(self, thread_id: str) -> bool:
        """True once per stop request, from this process or another.

        The stop file is looked for at every call, or by a step's save since the last call
        (`_put`, already off the event loop): a run then asks at every node boundary without
        a hop off the loop each time. A request made while a node runs reaches the boundary
        after it, as before; one made in the moment between a save and the boundary after it
        reaches the next boundary but one."""
        if await super().aconsume_stop(thread_id):
            return True
        with self._guard:
            if thread_id in self._probed:
                self._probed.discard(thread_id)
                return False
        return await off_loop(self._take_stop_file, thread_id)

    # -- on the files (off the event loop) ----------------------------------------------

    def _lock(self, thread_id: str) -> None:
        with self._guard:
            lock = self._lock_files.pop(thread_id, None)
        if lock is None:
            lock = FileLock(self._side(thread_id, ".lock"), keep_open=KEEP_OPEN > 0)
        with self._gate.hold():  # a stop probe never holds the lock while we try it
            if not lock.acquire(blocking=False):
                owner = lock.owner()
                lock.close()
                raise ThreadBusyError(thread_id, f" in another process{f' ({owner})' if owner else ''}")
            self._locks[thread_id] = lock
            unlink(self._side(thread_id, ".stop"))  # a request left over from an earlier run
        self._settle(thread_id)  # raising, the thread is let go (`_acquire`)

    def _settle(self, thread_id: str) -> None:
        """With the thread just taken: one look at its file tells whether it is as this store
        left it (then it ends in this store's complete last line and a kept append file is
        still it). Else a kept append file is closed and a torn last line cut."""
        path = self.file_for(thread_id)
        try:
            now = os.lstat(path)
        except FileNotFoundError:
            now = None
        with self._guard:
            kept = self._appenders.get(thread_id)
            if kept is not None and (now is None or kept.file != (now.st_dev, now.st_ino)):
                self._close_appender(thread_id)
            tail = self._tails.get(thread_id)
            if tail is not None and now is not None and identity(now) == tail[0]:
                self._as_left.add(thread_id)
                return
            self._as_left.discard(thread_id)
        cut_torn_tail(path)

    def _unlock(self, thread_id: str) -> None:
        """Let the thread go, keeping its append and lock files open for its next run
        (`KEEP_OPEN` threads at most). A stop request that came too late for the run is left to
        the next one's `_lock` to remove."""
        lock = self._locks.pop(thread_id, None)
        if lock is not None:
            lock.release()
        with self._guard:
            self._as_left.discard(thread_id)
            self._probed.discard(thread_id)
            kept = self._appenders.pop(thread_id, None)
            if kept is not None:
                self._appenders[thread_id] = kept  # now the most recently used
            if lock is not None and lock.keep_open:
                self._lock_files[thread_id] = lock
            while len(self._appenders) > KEEP_OPEN:
                oldest = next((t for t in self._appenders if t not in self._locks), None)
                if oldest is None:
                    break
                self._close_appender(oldest)
            while len(self._lock_files) > KEEP_OPEN:
                self._lock_files.pop(next(iter(self._lock_files))).close()

    def _close_appender(self, thread_id: str) -> None:
        kept = self._appenders.pop(thread_id, None)
        if kept is not None:
            os.close(kept.fd)

    def _held_elsewhere(self, thread_id: str, then_stop: bool = False) -> bool:
        """Whether another process (or another store on this folder) runs the thread; with
        `then_stop`, also leave it a stop request. Takes the thread's lock for a moment to tell,
        always inside the gate, where no run is taking it."""
        path = self._side(thread_id, ".lock")
        refuse_link(path)
        if not path.exists():  # every holder creates the lock file
            return False
        probe = FileLock(path)
        with self._gate.hold():
            if probe.acquire(blocking=False):
                probe.release()
                return False
            if then_stop:
                touch(self._side(thread_id, ".stop"))
            return True

    def _take_stop_file(self, thread_id: str) -> bool:
        stop = self._side(thread_id, ".stop")
        if os.path.lexists(stop):
            unlink(stop)
            return True
        return False

    def _probe_stop(self, thread_id: str) -> None:
        """Look for a stop request from another process, from a step's save (off the loop);
        one found is handed to the run as an in-process request (`aconsume_stop`)."""
        found = self._take_stop_file(thread_id)
        with self._control:
            if found and thread_id in self._running:
                self._stops.add(thread_id)
        with self._guard:
            self._probed.add(thread_id)


def _close_all(appenders: dict[str, Appender]) -> None:
    for kept in list(appenders.values()):
        try:
            os.close(kept.fd)
        except OSError:  # closed already
            pass
    appenders.clear()
