"""`FileCheckpointer`: a folder with one append-only, human-readable JSONL file per thread.

Each step appends one line holding only what changed (new messages, changed fields), with a
full snapshot whenever the deltas since the last one outgrow it, so a step costs what it
changed and a resume reads one snapshot plus the deltas after it. Lines carry a checksum; a
torn or corrupt line is skipped with a warning. A lock file per thread (`locks.FileLock`:
flock, msvcrt or an exclusive file) keeps a second process from running the same thread, and
a `.stop` file carries `stop()` across processes. No thread, lock or stop file is ever opened
through a symbolic link.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO, NamedTuple

from agentflow_nb.checkpointer.base import (
    BaseCheckpointer,
    Checkpoint,
    StateChanges,
    decode_state,
    encode_fields,
    encode_messages,
)
from agentflow_nb.checkpointer.locks import FileLock
from agentflow_nb.checkpointer.paths import SUFFIX, file_name, migrate_legacy_names, open_file, refuse_link, thread_of
from agentflow_nb.checkpointer.records import CorruptRecord, Record, encode_record, parse_record
from agentflow_nb.errors import ThreadBusyError, UnsafeFileError
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


class CheckpointWarning(UserWarning):
    """A damaged line was skipped while reading a thread file."""


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
        self._gate = FileLock(self.path / GATE)

    def __repr__(self) -> str:
        return f"FileCheckpointer({str(self.path)!r})"

    # -- files ----------------------------------------------------------------------------

    def file_for(self, thread_id: str) -> Path:
        """The JSONL file of a thread: its id percent-encoded, upper-case letters too, so that
        ids differing only in case get different files on case-insensitive disks."""
        known = self._files.get(thread_id)
        if known is None:
            known = self._files[thread_id] = self.path / f"{file_name(thread_id)}{SUFFIX}"
        return known

    def _side(self, thread_id: str, suffix: str) -> Path:
        return self.file_for(thread_id).with_suffix(suffix)

    # -- writing --------------------------------------------------------------------------

    async def aput(self, checkpoint: Checkpoint, *, changes: StateChanges | None = None) -> None:
        """Append one line: a delta against the parent when possible, else a snapshot."""
        thread_id, state = checkpoint.thread_id, checkpoint.state
        path = self.file_for(thread_id)
        with self._guard:
            entries = self._index.setdefault(thread_id, {})
            parent = entries.get(checkpoint.parent_id or "") if changes is not None else None
            fd, owned = self._open_append(thread_id, path)
            try:
                offset = os.lseek(fd, 0, os.SEEK_END)
                line, entry = self._line(checkpoint, state, changes, parent, offset)
                _write_all(fd, line)
                if self.durable and (checkpoint.status in _DURABLE or checkpoint.source != "run"):
                    os.fsync(fd)
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
            mfrom = changes.messages_from if changes.messages_from == parent.n else 0
            fields = encode_fields(state, changes.fields)
            drop = sorted(set(changes.fields or ()) - set(fields)) if changes.fields is not None else []
            line = encode_record(
                checkpoint, snap=False, base=parent.base, mfrom=mfrom, fields=fields, drop=drop,
                messages=encode_messages(state, mfrom),
            )
            since = parent.since + len(line)
            if since <= max(parent.snap_size, SNAPSHOT_MIN_BYTES):
                return line, _Entry(n, parent.base, parent.snap_size, since)
        line = encode_record(
            checkpoint, snap=True, base=offset, mfrom=0, fields=encode_fields(state), drop=[],
            messages=encode_messages(state),
        )
        return line, _Entry(n, offset, len(line), 0)

    def _open_append(self, thread_id: str, path: Path) -> tuple[int, bool]:
        fd = self._append_fds.get(thread_id)
        if fd is not None:
            return fd, False
        created = not _present(path)
        fd = open_file(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        if created and self.durable:
            _fsync_dir(self.path)
        if thread_id in self._locks:  # held for a run: keep it open until the run ends
            self._append_fds[thread_id] = fd
            return fd, False
        return fd, True

    # -- reading --------------------------------------------------------------------------

    async def aget(
        self,
        thread_id: str,
        checkpoint_id: str | None = None,
        *,
        schema: type[AgentState] = AgentState,
    ) -> Checkpoint | None:
        """The newest intact checkpoint (or the one named), read from its snapshot on."""
        path = self.file_for(thread_id)
        if not _present(path):
            return None
        start = 0 if checkpoint_id is not None else _tail_base(path)
        records = self._read(path, start, thread_id)
        found = _newest(records, checkpoint_id, schema, thread_id)
        if found is None and start > 0:  # the chain reaches back before the tail's snapshot
            records = self._read(path, 0, thread_id)
            found = _newest(records, checkpoint_id, schema, thread_id)
        return found

    async def alist(
        self, thread_id: str, *, schema: type[AgentState] = AgentState, limit: int | None = None
    ) -> list[Checkpoint]:
        """Every intact checkpoint, newest first."""
        path = self.file_for(thread_id)
        if not _present(path):
            return []
        records = self._read(path, 0, thread_id)
        rebuilt = _rebuild_all(records)
        out: list[Checkpoint] = []
        for record in reversed(records):
            if limit is not None and len(out) >= limit:
                break
            if record.id in rebuilt:
                fields, messages = rebuilt[record.id]
                out.append(_checkpoint(record, thread_id, decode_state(schema, fields, messages)))
        return out

    async def athreads(self) -> list[str]:
        """Every thread with a non-empty file in the folder, named as this store names files
        (files named by hand, links and empty files are left out: `get_state` opens none)."""
        found = []
        for entry in os.scandir(self.path):
            if entry.name.endswith(SUFFIX) and entry.is_file(follow_symlinks=False):
                thread_id = thread_of(entry.name[: -len(SUFFIX)])
                if thread_id is not None and entry.stat(follow_symlinks=False).st_size > 0:
                    found.append(thread_id)
        return sorted(found)

    def _read(self, path: Path, start: int, thread_id: str) -> list[Record]:
        """Parse the file from `start`; warn about and skip damaged lines; refresh the index."""
        with _reader(path) as handle:
            handle.seek(start)
            data = handle.read()
        records: list[Record] = []
        for offset, raw in _lines(data, start):
            try:
                records.append(parse_record(raw, offset, path.name))
            except CorruptRecord as exc:
                warnings.warn(f"{exc}; skipped, the thread goes on from its last good record",
                              CheckpointWarning, stacklevel=4)
        with self._guard:
            entries = self._index.setdefault(thread_id, {})
            for record in records:
                entry = _entry_of(record, entries)
                if entry is not None:
                    entries[record.id] = entry
        return records

    # -- run control across processes -----------------------------------------------------

    async def _acquire(self, thread_id: str) -> None:
        await super()._acquire(thread_id)
        try:
            lock = FileLock(self._side(thread_id, ".lock"))
            with self._gate.hold():  # a stop probe never holds the lock while we try it
                if not lock.acquire(blocking=False):
                    owner = lock.owner()
                    raise ThreadBusyError(thread_id, f" in another process{f' ({owner})' if owner else ''}")
                self._locks[thread_id] = lock
                _unlink(self._side(thread_id, ".stop"))  # a request left over from an earlier run
            _repair_tail(self.file_for(thread_id))
        except BaseException:
            await self._release(thread_id)
            raise

    async def _release(self, thread_id: str) -> None:
        with self._guard:
            append_fd = self._append_fds.pop(thread_id, None)
        if append_fd is not None:
            os.close(append_fd)
        lock = self._locks.pop(thread_id, None)
        if lock is not None:
            _unlink(self._side(thread_id, ".stop"))
            lock.release()
        await super()._release(thread_id)

    def _held_elsewhere(self, thread_id: str, *, then_stop: bool = False) -> bool:
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
                _touch(self._side(thread_id, ".stop"))
            return True

    async def ais_running(self, thread_id: str) -> bool:
        """True while a run in this or another process holds the thread."""
        return await super().ais_running(thread_id) or self._held_elsewhere(thread_id)

    async def arequest_stop(self, thread_id: str) -> bool:
        """Ask the run holding the thread, in any process, to stop at its next node boundary."""
        if await super().arequest_stop(thread_id):
            return True
        return self._held_elsewhere(thread_id, then_stop=True)

    async def aconsume_stop(self, thread_id: str) -> bool:
        """True once per stop request, from this process or another."""
        if await super().aconsume_stop(thread_id):
            return True
        stop = self._side(thread_id, ".stop")
        if os.path.lexists(stop):
            _unlink(stop)
            return True
        return False


# -- helpers ------------------------------------------------------------------------------


def _present(path: Path) -> bool:
    """Whether the thread file exists (`UnsafeFileError` if it is a link, even a dangling one)."""
    refuse_link(path)
    return os.path.lexists(path)


def _reader(path: Path) -> BinaryIO:
    """`path` opened for reading, never through a symbolic link."""
    return os.fdopen(open_file(path, os.O_RDONLY), "rb")


def _touch(path: Path) -> None:
    """Create the (empty) file `path`; anything else found there, such as a link, is replaced."""
    try:
        refuse_link(path)
    except UnsafeFileError:
        _unlink(path)
    os.close(open_file(path, os.O_WRONLY | os.O_CREAT))


def _unlink(path: Path) -> None:
    """Remove `path` (a link is removed itself, never what it points to)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _lines(data: bytes, start: int) -> Iterable[tuple[int, bytes]]:
    pos = 0
    while pos < len(data):
        end = data.find(b"\n", pos)
        end = len(data) if end < 0 else end + 1
        yield start + pos, data[pos:end]
        pos = end


_BLOCK = 64 * 1024


def _newline_before(handle: BinaryIO, end: int) -> int:
    """Offset of the last newline before byte `end` of an open file, or -1: read backwards one
    block at a time, each byte once, however long the line."""
    while end > 0:
        begin = max(0, end - _BLOCK)
        handle.seek(begin)
        cut = handle.read(end - begin).rfind(b"\n")
        if cut >= 0:
            return begin + cut
        end = begin
    return -1


def _tail_base(path: Path) -> int:
    """Where the chain of the file's last complete line starts (0 if that line is damaged)."""
    with _reader(path) as handle:
        last = _newline_before(handle, os.fstat(handle.fileno()).st_size)
        if last < 0:
            return 0
        start = _newline_before(handle, last) + 1
        handle.seek(start)
        try:
            return parse_record(handle.read(last + 1 - start), start, path.name).base
        except (CorruptRecord, ValueError):
            return 0


def _repair_tail(path: Path) -> None:
    """Cut a torn last line (a write that never finished) before appending after it; only that line."""
    if not _present(path):
        return
    with os.fdopen(open_file(path, os.O_RDWR), "rb+") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            return
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        keep = _newline_before(handle, size) + 1
        warnings.warn(
            f"{path.name} ended in a torn record ({size - keep} bytes); removed it before appending",
            CheckpointWarning, stacklevel=4,
        )
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())


def _entry_of(record: Record, entries: dict[str, _Entry]) -> _Entry | None:
    if record.snap:
        return _Entry(record.n, record.offset, record.size, 0)
    parent = entries.get(record.parent or "")
    if parent is None:
        return None
    return _Entry(record.n, parent.base, parent.snap_size, parent.since + record.size)


def _apply(record: Record, fields: dict[str, str], messages: list[str]) -> tuple[dict[str, str], list[str]]:
    if record.snap:
        return dict(record.fields), list(record.messages)
    fields = {**fields, **record.fields}
    for name in record.drop:
        fields.pop(name, None)
    return fields, messages[: record.mfrom] + list(record.messages)


def _rebuild_all(records: list[Record]) -> dict[str, tuple[dict[str, str], list[str]]]:
    """Fields and messages of every record whose chain is intact within `records`."""
    done: dict[str, tuple[dict[str, str], list[str]]] = {}
    for record in records:
        if record.snap:
            done[record.id] = _apply(record, {}, [])
        elif record.parent in done:
            done[record.id] = _apply(record, *done[record.parent])
    return done


def _newest(
    records: list[Record], checkpoint_id: str | None, schema: type[AgentState], thread_id: str
) -> Checkpoint | None:
    by_id = {r.id: r for r in records}
    candidates = [by_id[checkpoint_id]] if checkpoint_id in by_id else []
    if checkpoint_id is None:
        candidates = list(reversed(records))
    for record in candidates:
        chain = _chain(record, by_id)
        if chain is None:
            continue
        fields: dict[str, str] = {}
        messages: list[str] = []
        for link in chain:
            fields, messages = _apply(link, fields, messages)
        return _checkpoint(record, thread_id, decode_state(schema, fields, messages))
    return None


def _chain(record: Record, by_id: dict[str, Record]) -> list[Record] | None:
    chain = [record]
    while not chain[-1].snap:
        parent = by_id.get(chain[-1].parent or "")
        if parent is None:
            return None
        chain.append(parent)
    return chain[::-1]


def _checkpoint(record: Record, thread_id: str, state: AgentState) -> Checkpoint:
    return Checkpoint(
        checkpoint_id=record.id, thread_id=thread_id, step=record.step, node=record.node,
        status=ExecutionStatus(record.status), source=record.source,  # type: ignore[arg-type]
        parent_id=record.parent, state=state, created_at=record.at,
    )
