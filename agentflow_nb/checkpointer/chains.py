"""Reading a thread file: windows of lines, and the chains of records that rebuild a checkpoint.

A record is a snapshot or a delta on its `parent`. Chains are followed by `parent` ids, each
parent strictly earlier in the file than its child, so any input (cycles, self-parents, ids
repeated, forged offsets) is read in bounded time and memory. Where a chain starts (`base`) is
only a hint of where to begin reading; when it is wrong the file is read from its start.

A torn last line (no line end, and no valid checksum: a crash mid-write) is left out; a last
line that lost only its final newline still passes its checksum and is a complete record. Any
other damage raises `CheckpointCorruptError` naming the file and line.
"""

from __future__ import annotations

import json
import mmap
import os
from pathlib import Path
from typing import BinaryIO, NamedTuple

from pydantic import ValidationError

from agentflow_nb.checkpointer.base import Checkpoint
from agentflow_nb.checkpointer.codec import decode_parts
from agentflow_nb.checkpointer.lines import CheckpointWarning, cut_torn_tail, iter_lines, line_number, newline_before
from agentflow_nb.checkpointer.packed import CorruptLayout, layout_messages, loaded_frames
from agentflow_nb.checkpointer.paths import reader
from agentflow_nb.checkpointer.records import CorruptRecord, Record, parse_record, verifies
from agentflow_nb.errors import CheckpointCorruptError, UnsafeFileError, UnsafeRecordError
from agentflow_nb.state import AgentState, ExecutionStatus

__all__ = [
    "CheckpointWarning",
    "Chains",
    "Segments",
    "ThreadFile",
    "cut_torn_tail",
    "damage_error",
    "has_record",
    "rebuild",
]

_BLOCK = 64 * 1024  # how much of a file `has_record` reads at a time


class Segments(NamedTuple):
    """A checkpoint's messages as raw JSON pieces: `text` (`count` messages) after those of `before`."""

    before: Segments | None
    text: bytes | memoryview
    count: int

    def pieces(self) -> list[Segments]:
        """The pieces, oldest first."""
        found: list[Segments] = []
        node: Segments | None = self
        while node is not None:
            found.append(node)
            node = node.before
        return found[::-1]

    def texts(self) -> list[bytes | memoryview]:
        """The text of each piece, in order: the contents of one JSON array, once joined by commas."""
        return [piece.text for piece in self.pieces()]

    def take(self, keep: int) -> Segments | None:
        """The first `keep` messages (a step that cut the conversation short kept only those);
        only a piece cut in its middle is parsed, to find where its messages end."""
        kept: Segments | None = None
        for piece in self.pieces():
            if keep <= 0:
                break
            if piece.count <= keep:
                kept, keep = Segments(kept, piece.text, piece.count), keep - piece.count
            else:
                kept, keep = Segments(kept, _first_messages(piece.text, keep), keep), 0
        return kept


def _first_messages(text: bytes | memoryview, count: int) -> bytes:
    """The JSON text of the first `count` messages of `text` (comma-separated messages).

    Raises:
        CorruptRecord: `text` is not UTF-8 JSON as far as those messages go.
    """
    try:
        source = bytes(text).decode()
        decoder = json.JSONDecoder()
        end = 0
        for _ in range(count):
            while end < len(source) and source[end] in ", \t\r\n":
                end += 1
            _, end = decoder.raw_decode(source, end)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise CorruptRecord(f"the messages it keeps are not valid JSON ({type(exc).__name__})") from None
    return source[:end].encode()


class Parts(NamedTuple):
    """What a record rebuilds: field texts and its messages (`n` of them)."""

    fields: dict[str, str]
    messages: Segments | None
    n: int


class Unreadable(Exception):
    """A record whose chain is all there but cannot be applied: damage, wherever reading began."""

    def __init__(self, record: Record, reason: str) -> None:
        super().__init__(reason)
        self.record = record
        self.reason = reason


class Broken(Exception):
    """A chain cannot be built from the records read so far (read more, or it is damage)."""

    def __init__(self, record: Record, reason: str) -> None:
        super().__init__(reason)
        self.record = record
        self.reason = reason


class Chains:
    """Records read from one file, indexed by id, and what each of them rebuilds (memoized)."""

    def __init__(self, records: list[Record]) -> None:
        self.records = records
        self.by_id: dict[str, Record] = {}
        for record in records:
            if record.id in self.by_id:
                raise Broken(record, f"it repeats checkpoint id `{record.id}` of an earlier line")
            self.by_id[record.id] = record
        self._parts: dict[str, Parts] = {}

    def parts(self, record: Record) -> Parts:
        """Fields and messages of `record`, applying its chain from its snapshot."""
        chain: list[Record] = []
        node = record
        while node.id not in self._parts and not node.snap:
            chain.append(node)
            node = self._parent(node)
        if node.id not in self._parts:
            first = Segments(None, node.messages, node.n) if node.messages else None
            self._parts[node.id] = Parts(dict(node.fields), first, node.n)
        parts = self._parts[node.id]
        for link in reversed(chain):
            parts = self._parts[link.id] = _apply(parts, link)
        return parts

    def _parent(self, record: Record) -> Record:
        parent = self.by_id.get(record.parent or "")
        if parent is None or record.parent is None:
            raise Broken(record, f"its parent `{record.parent}` is not in the file")
        if parent.offset >= record.offset:
            raise Broken(record, f"its parent `{record.parent}` is not earlier in the file (a cycle)")
        if record.mfrom > parent.n:
            raise Broken(record, f"it keeps {record.mfrom} messages of a parent that has {parent.n}")
        return parent


def _apply(parts: Parts, record: Record) -> Parts:
    fields = {**parts.fields, **record.fields}
    for name in record.drop:
        fields.pop(name, None)
    messages = parts.messages
    if record.mfrom < parts.n:  # the step kept only the first `mfrom` messages (0: none)
        try:
            messages = messages.take(record.mfrom) if messages is not None and record.mfrom else None
        except CorruptRecord as exc:
            raise Unreadable(record, str(exc)) from None
    if record.messages:
        messages = Segments(messages, record.messages, record.n - record.mfrom)
    return Parts(fields, messages, record.n)


class ThreadFile:
    """One open thread file, read by windows of whole lines."""

    def __init__(self, path: Path, handle: BinaryIO, thread_id: str) -> None:
        self.path, self.handle, self.thread_id = path, handle, thread_id
        self.size = os.fstat(handle.fileno()).st_size
        self.end = newline_before(handle, self.size) + 1  # the end of the last complete line
        self.unterminated = False  # the last line is complete but lost its final newline
        if self.end < self.size:
            handle.seek(self.end)
            if verifies(handle.read(self.size - self.end)):
                self.end, self.unterminated = self.size, True
        self.torn = self.size - self.end  # bytes of a torn last line (0: none)

    def read(self, start: int, end: int) -> list[Record]:
        """The records of the lines in [start, end); `start` must be a line start. Their messages
        are views of the bytes read (see `parse_record`)."""
        self.handle.seek(start)
        data = self.handle.read(end - start)
        return [self.parse(raw, start + pos) for pos, raw in iter_lines(data)]

    def parse(self, raw: bytes | memoryview, offset: int) -> Record:
        if self.unterminated and offset + len(raw) == self.size and raw[-1:] != b"\n":
            raw = bytes(raw) + b"\n"  # as `cut_torn_tail` completes it before anything is appended
        try:
            return parse_record(raw, offset)
        except CorruptRecord as exc:
            raise self.damage(offset, str(exc)) from None
        except UnsafeRecordError as exc:
            raise self.damage(offset, str(exc), unsafe=True) from None

    def last(self) -> Record | None:
        """The record of the last complete line, or None when there is none."""
        if self.end == 0:
            return None
        start = newline_before(self.handle, self.end - 1) + 1
        self.handle.seek(start)
        return self.parse(self.handle.read(self.end - start), start)

    def line_before(self, offset: int) -> Record:
        """The record of the line that ends at `offset`."""
        start = newline_before(self.handle, offset - 1) + 1
        return self.read(start, offset)[0]

    def newest(self, limit: int | None) -> tuple[Chains, list[Record]]:
        """The newest `limit` records (all: None), newest first, each with its chain read.

        Reads from the snapshot the last line's chain starts at, back only as far as needed.
        """
        last = self.last()
        if last is None:
            return Chains([]), []
        start = 0 if limit is None else self._hint(last)
        records = self.read(start, self.end)
        while True:
            while limit is not None and len(records) < limit and start > 0:
                earlier = self._hint(self.line_before(start))
                records, start = self.read(earlier, start) + records, earlier
            selected = records[::-1] if limit is None else records[: -limit - 1 : -1]
            try:
                chains = Chains(records)
                for record in selected:
                    chains.parts(record)
                return chains, selected
            except Broken as broken:
                records, start = self._further(broken, records, start, selected)
            except Unreadable as unreadable:
                raise self.damage(unreadable.record.offset, unreadable.reason) from None

    def find(self, checkpoint_id: str) -> tuple[Chains, Record] | None:
        """The record of `checkpoint_id` and its chain, or None when the file has no such id."""
        record = self._locate(checkpoint_id)
        if record is None:
            return None
        start = self._hint(record)
        records = self.read(start, record.offset + record.size)
        while True:
            try:
                chains = Chains(records)
                chains.parts(record)
                return chains, record
            except Broken as broken:
                records, start = self._further(broken, records, start, [record])
            except Unreadable as unreadable:
                raise self.damage(unreadable.record.offset, unreadable.reason) from None

    def _further(
        self, broken: Broken, records: list[Record], start: int, wanted: list[Record]
    ) -> tuple[list[Record], int]:
        """Read back further for a chain that reaches before `start`; damage when at the start."""
        if start == 0:
            raise self.damage(broken.record.offset, broken.reason)
        hints = [self._hint(record) for record in wanted]
        earlier = min([h for h in hints if h < start], default=0)
        return self.read(earlier, start) + records, earlier

    def _hint(self, record: Record) -> int:
        """Where to start reading for `record`'s chain: its `base`, when that is a line start
        before it (a file converted to CRLF, or a forged one, is read from its start)."""
        base = record.base
        return base if base <= record.offset and self.is_line_start(base) else 0

    def _locate(self, checkpoint_id: str) -> Record | None:
        """Search the raw bytes for the id, then check each hit by parsing its line."""
        if self.end == 0:
            return None
        needle = b'"id":' + json.dumps(checkpoint_id).encode() + b","
        with mmap.mmap(self.handle.fileno(), self.end, access=mmap.ACCESS_READ) as data:
            at = data.find(needle)
            while at >= 0:
                start = data.rfind(b"\n", 0, at) + 1
                end = data.find(b"\n", at)
                record = self.parse(data[start : len(data) if end < 0 else end + 1], start)
                if record.id == checkpoint_id:
                    return record
                at = data.find(needle, at + 1)
        return None

    def is_line_start(self, offset: int) -> bool:
        if offset == 0:
            return True
        if not 0 < offset < self.end:
            return False
        self.handle.seek(offset - 1)
        return self.handle.read(1) == b"\n"

    def damage(self, offset: int, reason: str, *, unsafe: bool = False) -> CheckpointCorruptError:
        return damage_error(self.path, self.thread_id, line_number(self.handle, offset), reason, unsafe=unsafe)


def rebuild(file: ThreadFile, chains: Chains, record: Record, schema: type[AgentState]) -> Checkpoint:
    """`record`'s checkpoint, its state rebuilt through `schema`; one that does not load is damage."""
    parts = chains.parts(record)
    try:
        state = decode_parts(schema, parts.fields, parts.messages.texts() if parts.messages else [])
    except ValidationError as exc:
        raise file.damage(record.offset, f"checkpoint `{record.id}` does not load as `{schema.__name__}` "
                          f"({_first_error(exc)}); if the state schema changed since it was saved, "
                          "load it with the schema it was saved with") from exc
    except CorruptLayout as exc:
        raise file.damage(record.offset, f"checkpoint `{record.id}`: {exc}") from None
    except (ValueError, RecursionError) as exc:  # a packed record's messages, taken one by one
        raise file.damage(record.offset, f"checkpoint `{record.id}` has messages that are not valid "
                          f"JSON ({type(exc).__name__})") from None
    rebuilt = len(state.messages) + sum(len(frame.messages or ()) for frame in loaded_frames(state))
    if rebuilt != record.n:  # a thread paused in subgraphs keeps their conversations after the root's
        raise file.damage(record.offset, f"it rebuilds {rebuilt} messages, not the {record.n} it names")
    laid_out = layout_messages(parts.fields)  # checked by `decode_parts` already: raises nothing here
    if laid_out not in (None, record.n):
        raise file.damage(record.offset, f"its subgraph layout accounts for {laid_out} messages, not "
                          f"the {record.n} it names")
    return Checkpoint(
        checkpoint_id=record.id, thread_id=file.thread_id, step=record.step, node=record.node,
        status=ExecutionStatus(record.status), source=record.source,  # type: ignore[arg-type]
        parent_id=record.parent, state=state, created_at=record.at,
    )


def _first_error(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    where = ".".join(map(str, first.get("loc", ()))) or "the state"
    return f"`{where}`: {first.get('msg', '')}"


def has_record(path: Path) -> bool:
    """Whether a thread file holds at least one complete line (what `get_state` would open, or
    report as damaged); False for an empty file, one holding only a torn line, or none at all."""
    try:
        with reader(path) as handle:
            while block := handle.read(_BLOCK):
                if b"\n" in block:
                    return True
            return ThreadFile(path, handle, "").end > 0  # one line, perhaps without its newline
    except (FileNotFoundError, UnsafeFileError):  # gone meanwhile, or a link planted meanwhile
        return False


def damage_error(path: Path, thread_id: str, line: int, reason: str, *, unsafe: bool = False) -> CheckpointCorruptError:
    """The error for damage at `line` of a thread file, with the ways to repair it."""
    kind = UnsafeRecordError if unsafe else CheckpointCorruptError
    folder = str(path.parent)
    return kind(
        f"thread file `{path.name}` is damaged at line {line}: {reason}. Nothing is run from a "
        f"damaged thread. To go on, repair it: `FileCheckpointer({folder!r}).repair({thread_id!r}, "
        f'keep="before-damage")` keeps every checkpoint before line {line}; `keep="last-snapshot"` '
        "also keeps every later checkpoint that can still be rebuilt. The file as it was is kept "
        "beside it.",
        path=str(path), line=line,
    )
