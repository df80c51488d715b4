"""`FileCheckpointer`: a folder with one append-only, human-readable JSONL file per thread.

Each step appends one line holding only what changed (new messages, changed fields), with a
full snapshot whenever the deltas since the last one outgrow it, so a step costs what it
changed and a resume reads one snapshot plus the deltas after it. Lines carry a checksum; a
torn last line (a crash mid-write) is skipped with a warning and cut by the next run, any other
damage stops the thread with `CheckpointCorruptError` until it is repaired (`repair`). A lock
file per thread keeps a second process from running the same thread, and a `.stop` file carries
`stop()` across processes (`holding`). No thread, lock or stop file is ever opened through a
symbolic link.

The async methods do their file work off the event loop (in a worker thread), except on the
private loop a sync `invoke` runs in its caller's thread, where nothing else waits.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from agentflow_nb._sync import off_loop, run
from agentflow_nb.checkpointer.base import Checkpoint, StateChanges
from agentflow_nb.checkpointer.chains import CheckpointWarning, ThreadFile, has_record, line_number, rebuild
from agentflow_nb.checkpointer.codec import encode_fields, message_bytes
from agentflow_nb.checkpointer.holding import Appender, HeldThreads
from agentflow_nb.checkpointer.paths import (
    SUFFIX,
    fsync_folder,
    identity,
    migrate_legacy_names,
    open_file,
    present,
    reader,
    thread_of,
    write_all,
)
from agentflow_nb.checkpointer.records import Record, encode_record
from agentflow_nb.checkpointer.repair import Keep, RepairReport, repair_file
from agentflow_nb.state import AgentState, ExecutionStatus

__all__ = ["CheckpointWarning", "FileCheckpointer"]

#: Deltas may add up to this many bytes (or the snapshot's size, if larger) before a new one.
SNAPSHOT_MIN_BYTES = 64 * 1024
#: Threads whose offsets (what a delta needs of its parent) a store keeps: the most recently used.
KEEP_THREADS = 256
#: Offsets kept per thread (its newest checkpoints: a delta's parent is nearly always the newest).
KEEP_ENTRIES = 1024
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


class FileCheckpointer(HeldThreads):
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
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        migrate_legacy_names(folder)
        super().__init__(folder)
        self.durable = durable
        self._index: dict[str, dict[str, _Entry]] = {}  # most recently used thread last

    def __repr__(self) -> str:
        return f"FileCheckpointer({str(self.path)!r})"

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

    # -- writing --------------------------------------------------------------------------

    def _put(self, checkpoint: Checkpoint, changes: StateChanges | None) -> None:
        thread_id, state = checkpoint.thread_id, checkpoint.state
        path = self.file_for(thread_id)
        with self._guard:
            entries = self._entries(thread_id)
            parent = entries.get(checkpoint.parent_id or "") if changes is not None else None
            fd, owned = self._open_append(thread_id, path)
            try:
                offset = os.lseek(fd, 0, os.SEEK_END)
                line, entry = self._line(checkpoint, state, changes, parent, offset)
                write_all(fd, line)
                if self.durable and (checkpoint.status in _DURABLE or checkpoint.source != "run"):
                    os.fsync(fd)
                if checkpoint.status in _DURABLE:  # likely a run's last: the next run may ask `ahead`
                    self._tails[thread_id] = (identity(os.fstat(fd)), checkpoint.checkpoint_id)
                else:
                    self._tails.pop(thread_id, None)
            finally:
                if owned:
                    os.close(fd)
            _note(entries, checkpoint.checkpoint_id, entry)
        if checkpoint.status is ExecutionStatus.RUNNING and thread_id in self._locks:
            self._probe_stop(thread_id)  # the run goes on: it asks at its next node boundary

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

    def _entries(self, thread_id: str) -> dict[str, _Entry]:
        """The thread's offsets, now its most recently used (the caller holds `_guard`); the
        least recently used thread's are forgotten beyond `KEEP_THREADS` (its next step after
        a forgotten parent writes a snapshot: a larger line, nothing lost)."""
        entries = self._index.pop(thread_id, None)
        if entries is None:
            entries = {}
            if len(self._index) >= KEEP_THREADS:
                gone = next(iter(self._index))
                del self._index[gone]
                self._tails.pop(gone, None)
        self._index[thread_id] = entries
        return entries

    def _open_append(self, thread_id: str, path: Path) -> tuple[int, bool]:
        """The thread file open for appending, and whether the caller closes it. A run's is kept
        (one open per run; between runs, see `KEEP_OPEN`); a file kept from an earlier run is
        used only once `_settle` found it is still the file at `path`."""
        held = thread_id in self._locks
        kept = self._appenders.get(thread_id)
        if kept is not None and held:
            return kept.fd, False
        created = not present(path)
        fd = open_file(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        if created and self.durable:
            fsync_folder(self.path)
        if not held:
            return fd, True
        opened = os.fstat(fd)
        self._appenders[thread_id] = Appender(fd, (opened.st_dev, opened.st_ino))
        return fd, False

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
            entries = self._entries(thread_id)
            for record in records:
                entry = _entry_of(record, entries)
                if entry is not None:
                    _note(entries, record.id, entry)

    def _repair(self, thread_id: str, keep: Keep, dry_run: bool) -> RepairReport:
        path = self.file_for(thread_id)
        if not present(path):
            return RepairReport(thread_id, None, "", 0, 0, None, None)
        report = repair_file(path, thread_id, keep, dry_run=dry_run)
        with self._guard:
            self._index.pop(thread_id, None)  # offsets moved
            self._tails.pop(thread_id, None)
            self._as_left.discard(thread_id)
            self._close_appender(thread_id)  # the file was replaced
        return report



def _note(entries: dict[str, _Entry], checkpoint_id: str, entry: _Entry) -> None:
    """Add an offset, forgetting the oldest half beyond `KEEP_ENTRIES` (each kept dict stays small)."""
    entries[checkpoint_id] = entry
    if len(entries) > 2 * KEEP_ENTRIES:
        for old in list(entries)[:KEEP_ENTRIES]:
            del entries[old]


def _entry_of(record: Record, entries: dict[str, _Entry]) -> _Entry | None:
    if record.snap:
        return _Entry(record.n, record.offset, record.size, 0)
    parent = entries.get(record.parent or "")
    if parent is None:
        return None
    return _Entry(record.n, parent.base, parent.snap_size, parent.since + record.size)
