"""`FileCheckpointer`: a folder with one append-only, human-readable JSONL file per thread.

Each step appends one line holding only what changed (new messages, changed fields), with a
full snapshot whenever the deltas since the last one outgrow it, so a step costs what it
changed and a resume reads one snapshot plus the deltas after it. Lines carry a checksum; a
torn last line (a crash mid-write) is skipped with a warning and cut by the next run, any other
damage stops the thread with `CheckpointCorruptError` until it is repaired (`repair`). A lock
file per thread (`locks.FileLock`: flock, msvcrt or an exclusive file) keeps a second process
from running the same thread, and a `.stop` file carries `stop()` across processes. No thread,
lock or stop file is ever opened through a symbolic link.

The async methods do their file work off the event loop (in a worker thread), except on the
private loop a sync `invoke` runs in its caller's thread, where nothing else waits.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from agentflow_nb._sync import off_loop, run
from agentflow_nb.checkpointer.base import BaseCheckpointer, Checkpoint, StateChanges
from agentflow_nb.checkpointer.chains import (
    CheckpointWarning,
    ThreadFile,
    cut_torn_tail,
    has_record,
    line_number,
    rebuild,
)
from agentflow_nb.checkpointer.codec import encode_fields, message_bytes
from agentflow_nb.checkpointer.locks import FileLock
from agentflow_nb.checkpointer.paths import (
    SUFFIX,
    file_name,
    fsync_folder,
    migrate_legacy_names,
    open_file,
    present,
    reader,
    refuse_link,
    thread_of,
    touch,
    unlink,
    write_all,
)
from agentflow_nb.checkpointer.records import Record, encode_record
from agentflow_nb.checkpointer.repair import Keep, RepairReport, repair_file
from agentflow_nb.errors import ThreadBusyError
from agentflow_nb.state import AgentState, ExecutionStatus

__all__ = ["CheckpointWarning", "FileCheckpointer"]

#: A lock every run and stop probe of the folder holds for the moment it takes or tests a
#: thread's lock, so that a probe never makes a run find its thread momentarily locked.
GATE = ".agentflow-gate"
#: Deltas may add up to this many bytes (or the snapshot's size, if larger) before a new one.
SNAPSHOT_MIN_BYTES = 64 * 1024
_DURABLE = frozenset(
    {ExecutionStatus.INTERRUPTED_BEFORE, ExecutionStatus.INTERRUPTED_AFTER, ExecutionStatus.STOPPED,
     ExecutionStatus.ERROR, ExecutionStatus.COMPLETED}
)


class _Entry(NamedTuple):
    """What a writer needs to know of a saved record to append a delta after it."""

    n: int  # messages in that checkpoint
    base: int  # offset of the snapshot its chain starts from
    snap_size: int  # size of that snapshot
    since: int  # bytes of deltas since that snapshot, this record included


class FileCheckpointer(BaseCheckpointer):
    """Saves threads under `path`, one `<thread_id>.jsonl` file each.

    Args:
        path: the folder (created if missing).
        durable: fsync at every pause, stop, error, completion and edit (default True).

    Example: a thread is a file of JSON lines, one per step; a new process resumes it.
        >>> import json, tempfile
        >>> from agentflow_nb.graph import StateGraph
        >>> folder = tempfile.mkdtemp()
        >>> graph = StateGraph().add_node("ASK", lambda s: "sure?").add_node("ACT", lambda s: "done")
        >>> app = graph.compile(checkpointer=FileCheckpointer(folder), interrupt_before=["ACT"])
        >>> app.invoke({"messages": []}, {"thread_id": "t"})["interrupted"]
        True
        >>> with open(f"{folder}/t.jsonl") as file:
        ...     [(r["step"], r["node"], r["status"]) for r in map(json.loads, file)]
        [(0, None, 'running'), (1, 'ASK', 'running'), (1, 'ACT', 'interrupted_before')]
        >>> later = graph.compile(checkpointer=FileCheckpointer(folder))  # e.g. in another process
        >>> [m.content for m in later.invoke({}, {"thread_id": "t"})["messages"]]
        ['sure?', 'done']
    """

    any_loop = True

    def __init__(self, path: str | os.PathLike[str], *, durable: bool = True) -> None:
        super().__init__()
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        migrate_legacy_names(self.path)
        self.durable = durable
        self._guard = threading.Lock()
        self._index: dict[str, dict[str, _Entry]] = {}
        self._append_fds: dict[str, int] = {}
        self._locks: dict[str, FileLock] = {}
        self._files: dict[str, Path] = {}
        self._gate = FileLock(self.path / GATE, named=False)
        self._sides: dict[tuple[str, str], Path] = {}
        #: Per thread, the file's identity right after this store wrote its newest checkpoint
        #: (a pause, a stop, an end), and that checkpoint's id: see `ahead`.
        self._tails: dict[str, tuple[tuple[int, ...], str]] = {}

    def __repr__(self) -> str:
        return f"FileCheckpointer({str(self.path)!r})"

    def file_for(self, thread_id: str) -> Path:
        """The JSONL file of a thread: its id percent-encoded, upper-case letters too, so that
        ids differing only in case get different files on case-insensitive disks."""
        known = self._files.get(thread_id)
        if known is None:
            known = self._files[thread_id] = self.path / f"{file_name(thread_id)}{SUFFIX}"
        return known

    def _side(self, thread_id: str, suffix: str) -> Path:
        """The thread's `.lock` or `.stop` file (asked for at every step: kept)."""
        key = (thread_id, suffix)
        side = self._sides.get(key)
        if side is None:
            side = self._sides[key] = self.file_for(thread_id).with_suffix(suffix)
        return side

    # -- the interface: file work off the event loop ----------------------------------------

    async def aput(self, checkpoint: Checkpoint, *, changes: StateChanges | None = None) -> None:
        """Append one line: a delta against the parent when possible, else a snapshot.

        Raises:
            UnsaveableValueError: a value would not load back as it is (nothing is written).
        """
        await off_loop(self._put, checkpoint, changes)

    async def aget(
        self,
        thread_id: str,
        checkpoint_id: str | None = None,
        *,
        schema: type[AgentState] = AgentState,
    ) -> Checkpoint | None:
        """The newest checkpoint (or the one named), read from its snapshot on.

        Raises:
            CheckpointCorruptError: a line it needs is damaged (not just a torn last line).
        """
        return await off_loop(self._get, thread_id, checkpoint_id, schema)

    async def alist(
        self, thread_id: str, *, schema: type[AgentState] = AgentState, limit: int | None = None
    ) -> list[Checkpoint]:
        """The thread's checkpoints, newest first; with `limit`, only the newest `limit` are
        read and rebuilt (the file is read back from its end only as far as they need)."""
        return await off_loop(self._list, thread_id, schema, limit)

    async def athreads(self) -> list[str]:
        """Every thread whose file in the folder holds a record, named as this store names files
        (files named by hand, links, empty files and files holding only a torn line are left
        out: `get_state` opens none of them)."""
        return await off_loop(self._threads)

    async def arepair(self, thread_id: str, keep: Keep = "before-damage", *, dry_run: bool = False) -> RepairReport:
        """Repair a damaged thread file (see `agentflow_nb.checkpointer.repair`).

        `keep="before-damage"` keeps every line before the first damaged one;
        `keep="last-snapshot"` also keeps every later checkpoint that can still be rebuilt. The
        file as it was is copied beside it first. Holds the thread, so no run is in the way.

        Raises:
            ThreadBusyError: a run holds the thread.
        """
        async with self.lease(thread_id):
            return await off_loop(self._repair, thread_id, keep, dry_run)

    def repair(self, thread_id: str, keep: Keep = "before-damage", *, dry_run: bool = False) -> RepairReport:
        """Sync twin of `arepair`."""
        return run(self.arepair(thread_id, keep, dry_run=dry_run))

    async def ahead(self, thread_id: str) -> str | None:
        """The newest checkpoint's id if this store wrote it last: the file is the one it wrote,
        as it left it (same device, inode, size and modification time); else None."""
        tail = self._tails.get(thread_id)
        if tail is None:
            return None
        return await off_loop(self._head, thread_id, tail)

    def _head(self, thread_id: str, tail: tuple[tuple[int, ...], str]) -> str | None:
        try:
            now = _identity(os.stat(self.file_for(thread_id), follow_symlinks=False))
        except OSError:
            return None
        return tail[1] if now == tail[0] else None

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
        """True once per stop request, from this process or another."""
        return await super().aconsume_stop(thread_id) or await off_loop(self._take_stop_file, thread_id)

    # -- writing --------------------------------------------------------------------------

    def _put(self, checkpoint: Checkpoint, changes: StateChanges | None) -> None:
        thread_id, state = checkpoint.thread_id, checkpoint.state
        path = self.file_for(thread_id)
        with self._guard:
            entries = self._index.setdefault(thread_id, {})
            parent = entries.get(checkpoint.parent_id or "") if changes is not None else None
            fd, owned = self._open_append(thread_id, path)
            try:
                offset = os.lseek(fd, 0, os.SEEK_END)
                line, entry = self._line(checkpoint, state, changes, parent, offset)
                write_all(fd, line)
                if self.durable and (checkpoint.status in _DURABLE or checkpoint.source != "run"):
                    os.fsync(fd)
                if checkpoint.status in _DURABLE:  # likely a run's last: the next run may ask `ahead`
                    self._tails[thread_id] = (_identity(os.fstat(fd)), checkpoint.checkpoint_id)
                else:
                    self._tails.pop(thread_id, None)
            finally:
                if owned:
                    os.close(fd)
            entries[checkpoint.checkpoint_id] = entry

    def _line(
        self,
        checkpoint: Checkpoint,
        state: AgentState,
        changes: StateChanges | None,
        parent: _Entry | None,
        offset: int,
    ) -> tuple[bytes, _Entry]:
        n = len(state.messages)
        if parent is not None and changes is not None:
            kept = changes.messages_from
            mfrom = kept if kept is not None and kept <= parent.n else 0  # appended, or cut short
            fields = encode_fields(state, changes.fields)
            drop = sorted(set(changes.fields or ()) - set(fields)) if changes.fields is not None else []
            line = encode_record(
                checkpoint, snap=False, base=parent.base, mfrom=mfrom, fields=fields, drop=drop,
                messages=message_bytes(state, mfrom),
            )
            since = parent.since + len(line)
            if since <= max(parent.snap_size, SNAPSHOT_MIN_BYTES):
                return line, _Entry(n, parent.base, parent.snap_size, since)
        line = encode_record(
            checkpoint, snap=True, base=offset, mfrom=0, fields=encode_fields(state), drop=[],
            messages=message_bytes(state),
        )
        return line, _Entry(n, offset, len(line), 0)

    def _open_append(self, thread_id: str, path: Path) -> tuple[int, bool]:
        fd = self._append_fds.get(thread_id)
        if fd is not None:
            return fd, False
        created = not present(path)
        fd = open_file(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        if created and self.durable:
            fsync_folder(self.path)
        if thread_id in self._locks:  # held for a run: keep it open until the run ends
            self._append_fds[thread_id] = fd
            return fd, False
        return fd, True

    # -- reading --------------------------------------------------------------------------

    def _get(self, thread_id: str, checkpoint_id: str | None, schema: type[AgentState]) -> Checkpoint | None:
        with self._open(thread_id) as file:
            if file is None:
                return None
            if checkpoint_id is None:
                chains, records = file.newest(1)
            else:
                located = file.find(checkpoint_id)
                if located is None:
                    return None
                chains, records = located[0], [located[1]]
            if not records:
                return None
            self._remember(thread_id, chains.records)
            return rebuild(file, chains, records[0], schema)

    def _list(self, thread_id: str, schema: type[AgentState], limit: int | None) -> list[Checkpoint]:
        with self._open(thread_id) as file:
            if file is None or limit == 0:
                return []
            chains, records = file.newest(limit)
            self._remember(thread_id, chains.records)
            return [rebuild(file, chains, record, schema) for record in records]

    def _threads(self) -> list[str]:
        found = []
        for entry in os.scandir(self.path):
            if entry.name.endswith(SUFFIX) and entry.is_file(follow_symlinks=False):
                thread_id = thread_of(entry.name[: -len(SUFFIX)])
                if thread_id is not None and has_record(Path(entry.path)):
                    found.append(thread_id)
        return sorted(found)

    @contextmanager
    def _open(self, thread_id: str) -> Iterator[ThreadFile | None]:
        """The thread file open for reading (None when there is none); warns of a torn tail."""
        path = self.file_for(thread_id)
        if not present(path):
            yield None
            return
        with reader(path) as handle:
            file = ThreadFile(path, handle, thread_id)
            if file.torn:
                warnings.warn(
                    f"{path.name} ends in a torn record (line {line_number(handle, file.end)}, "
                    f"{file.torn} bytes: a write that never finished); it is skipped, and cut "
                    "when the thread runs again", CheckpointWarning, stacklevel=2,
                )
            yield file

    def _remember(self, thread_id: str, records: list[Record]) -> None:
        """Note what a writer needs to append deltas after the records read."""
        with self._guard:
            entries = self._index.setdefault(thread_id, {})
            for record in records:
                entry = _entry_of(record, entries)
                if entry is not None:
                    entries[record.id] = entry

    def _repair(self, thread_id: str, keep: Keep, dry_run: bool) -> RepairReport:
        path = self.file_for(thread_id)
        if not present(path):
            return RepairReport(thread_id, None, "", 0, 0, None, None)
        report = repair_file(path, thread_id, keep, dry_run=dry_run)
        with self._guard:
            self._index.pop(thread_id, None)  # offsets moved
            self._tails.pop(thread_id, None)
        return report

    # -- run control across processes -----------------------------------------------------

    def _lock(self, thread_id: str) -> None:
        lock = FileLock(self._side(thread_id, ".lock"))
        with self._gate.hold():  # a stop probe never holds the lock while we try it
            if not lock.acquire(blocking=False):
                owner = lock.owner()
                raise ThreadBusyError(thread_id, f" in another process{f' ({owner})' if owner else ''}")
            self._locks[thread_id] = lock
            unlink(self._side(thread_id, ".stop"))  # a request left over from an earlier run
        cut_torn_tail(self.file_for(thread_id))

    def _unlock(self, thread_id: str) -> None:
        with self._guard:
            append_fd = self._append_fds.pop(thread_id, None)
        if append_fd is not None:
            os.close(append_fd)
        lock = self._locks.pop(thread_id, None)
        if lock is not None:
            unlink(self._side(thread_id, ".stop"))
            lock.release()

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


def _identity(stat: os.stat_result) -> tuple[int, ...]:
    """What changes when anyone writes, cuts or replaces a file."""
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _entry_of(record: Record, entries: dict[str, _Entry]) -> _Entry | None:
    if record.snap:
        return _Entry(record.n, record.offset, record.size, 0)
    parent = entries.get(record.parent or "")
    if parent is None:
        return None
    return _Entry(record.n, parent.base, parent.snap_size, parent.since + record.size)
