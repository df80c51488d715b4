"""The line format of `FileCheckpointer`: one JSON object per checkpoint, with a checksum.

A line reads `{"sum":"<crc32 hex>","v":2,"mlen":<bytes>,"id":...,"step":...,...,"fields":{...},
"messages":[...]}`. The checksum covers the same object without its `sum` member. A `snap`
record holds the whole state; a delta holds only what changed since its `parent`: the messages
after the parent's first `mfrom`, and the changed `fields` (`drop` lists fields that went away).
`base` is the offset of the snapshot a record's chain starts from, so a reader can begin there
(a hint only: chains are followed by `parent` ids, so a wrong `base` costs time, never data).
`mlen` is the length of the messages array's contents, so a reader takes them as they are,
without parsing them twice (they are parsed once, by the state schema). Version-1 lines (no
`mlen`) are still read. A line may end in CRLF (a file converted by an editor or by git).
"""

from __future__ import annotations

import json
import math
import re
import zlib
from dataclasses import dataclass
from typing import Any

from agentflow_nb.checkpointer.base import Checkpoint
from agentflow_nb.checkpointer.codec import compact, json_name
from agentflow_nb.errors import UnsafeRecordError
from agentflow_nb.state import ExecutionStatus

__all__ = [
    "CorruptRecord",
    "Record",
    "TornRecord",
    "UnsafeRecordError",
    "encode_line",
    "encode_record",
    "parse_record",
    "verifies",
]

VERSION = 2
_V2 = re.compile(rb'\{"sum":"([0-9a-f]{8})","v":2,"mlen":(0|[1-9][0-9]{0,14}),')
_V1 = re.compile(rb'\{"sum":"([0-9a-f]{8})","v":1,')
_SUM_END = len(b'{"sum":"01234567",')
_MESSAGES = b',"messages":['
ENVELOPE = frozenset(
    {"v", "mlen", "id", "thread", "step", "node", "status", "source", "parent", "at", "snap", "base",
     "n", "mfrom", "fields", "drop", "messages"}
)
_STATUSES = frozenset(status.value for status in ExecutionStatus)
_SOURCES = frozenset({"run", "edit", "fork"})


class CorruptRecord(ValueError):
    """A complete line that is damaged: checksum, structure or values. Carries the reason."""


class TornRecord(CorruptRecord):
    """The last line has no line end: a write that never finished (a crash)."""


@dataclass(frozen=True, slots=True)
class Record:
    """One parsed line. `fields` are JSON text per field; `messages` is the raw JSON text of
    the new messages, comma-separated (empty when there are none), as a view of the bytes read."""

    offset: int
    size: int
    id: str
    parent: str | None
    step: int
    node: str | None
    status: str
    source: str
    at: float
    snap: bool
    base: int
    n: int
    mfrom: int
    fields: dict[str, str]
    drop: tuple[str, ...]
    messages: bytes | memoryview

    def head(self) -> dict[str, Any]:
        """The envelope values of this record, as `encode_line` takes them."""
        return {"id": self.id, "step": self.step, "node": self.node, "status": self.status,
                "source": self.source, "parent": self.parent, "at": self.at, "snap": self.snap,
                "base": self.base, "n": self.n, "mfrom": self.mfrom, "drop": list(self.drop)}


def encode_record(
    checkpoint: Checkpoint,
    *,
    snap: bool,
    base: int,
    mfrom: int,
    fields: dict[str, str],
    drop: list[str],
    messages: bytes,
) -> bytes:
    """The line for `checkpoint`, newline included. `fields` are JSON text per field,
    `messages` the JSON text of the new messages joined by commas."""
    head = {
        "id": checkpoint.checkpoint_id, "thread": checkpoint.thread_id, "step": checkpoint.step,
        "node": checkpoint.node, "status": checkpoint.status.value, "source": checkpoint.source,
        "parent": checkpoint.parent_id, "at": checkpoint.created_at, "snap": snap, "base": base,
        "n": len(checkpoint.state.messages), "mfrom": mfrom, "drop": drop,
    }
    return encode_line(head, fields, messages)


def encode_line(head: dict[str, Any], fields: dict[str, str], messages: bytes) -> bytes:
    """A version-2 line from its envelope values, field texts and raw messages."""
    field_text = ",".join(f"{json_name(name)}:{text}" for name, text in fields.items())
    body = b"".join((
        b'{"v":2,"mlen":%d,' % len(messages),
        compact(head)[1:-1].encode(),
        f',"fields":{{{field_text}}}'.encode(),
        _MESSAGES, messages, b"]}",
    ))
    return b'{"sum":"%08x",' % zlib.crc32(body) + body[1:] + b"\n"


def verifies(raw: bytes) -> bool:
    """Whether `raw`, one line with or without its line end, passes its checksum: a complete
    record (a torn write cannot pass it), even if a last line lost only its final newline."""
    line = memoryview(raw)
    line = line[:-1] if line[-1:] == b"\n" else line
    line = line[:-1] if line[-1:] == b"\r" else line
    if _V2.match(line) is None and _V1.match(line) is None:
        return False
    return _crc(line) == int(line[8:16].tobytes(), 16)


def _crc(line: memoryview) -> int:
    """The checksum of a line's object without its `sum` member (no copy of the line)."""
    return zlib.crc32(line[_SUM_END:], _CRC_BRACE)


_CRC_BRACE = zlib.crc32(b"{")


def parse_record(raw: bytes | memoryview, offset: int) -> Record:
    """Check and parse one line (its line end included) read at byte `offset`.

    A long conversation is copied once, not per step of the check: the line is read through a
    view, and the record's messages are a view of the same bytes.

    Raises:
        TornRecord: the line has no line end.
        CorruptRecord: the checksum does not match, or the record is malformed.
        UnsafeRecordError: the record has unknown keys or another version.
    """
    view = memoryview(raw)
    if view[-1:] != b"\n":
        raise TornRecord("it has no line end (a write that never finished)")
    line = view[:-2] if view[-2:] == b"\r\n" else view[:-1]
    v2 = _V2.match(line)
    if v2 is None and _V1.match(line) is None:
        if line[:8] == b'{"sum":"' and b'"v":' in line[: _SUM_END + 8].tobytes():
            raise UnsafeRecordError("it is not a version-1 or version-2 checkpoint")
        raise CorruptRecord("it has no checksum")
    if _crc(line) != int(line[8:16].tobytes(), 16):
        raise CorruptRecord("it fails its checksum")
    if v2 is not None:
        data, messages = _split_v2(line, v2)
    else:
        data = _loads(b"{" + line[_SUM_END:])
        messages = _v1_messages(data.get("messages"))
    return _record(data, messages, offset, len(raw))


def _split_v2(line: memoryview, match: re.Match[bytes]) -> tuple[dict[str, Any], memoryview]:
    """The envelope and fields (parsed) and the messages (as they are) of a version-2 line."""
    end = len(line) - 2
    start = end - int(match.group(2))
    if line[-2:] != b"]}" or start < match.end() or line[start - len(_MESSAGES) : start] != _MESSAGES:
        raise CorruptRecord("its messages are not where its `mlen` says")
    data = _loads(b"{" + line[match.end() : start - len(_MESSAGES)] + b"}")
    data["v"], data["mlen"] = 2, end - start
    return data, line[start:end]


def _loads(text: bytes) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting beyond the parser
        raise CorruptRecord(f"it is not valid JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise CorruptRecord("it is not a JSON object")
    return data


def _v1_messages(messages: Any) -> bytes:
    if not isinstance(messages, list):
        raise CorruptRecord("`messages` is not a list")
    return compact(messages)[1:-1].encode()


def _record(data: dict[str, Any], messages: bytes | memoryview, offset: int, size: int) -> Record:
    unknown = set(data) - ENVELOPE
    if unknown:
        raise UnsafeRecordError(f"it has unknown keys {sorted(unknown)}")
    fields, drop = data.get("fields"), data.get("drop")
    if not isinstance(fields, dict):
        raise CorruptRecord("`fields` is not an object")
    if "messages" in fields:  # the messages are kept apart; a field of that name would hide them
        raise CorruptRecord("its `fields` hold `messages`, which are kept apart")
    if not isinstance(drop, list) or not all(isinstance(name, str) for name in drop):
        raise CorruptRecord("`drop` is not a list of field names")
    _check_envelope(data)
    return Record(
        offset=offset, size=size, id=data["id"], parent=data["parent"], step=data["step"],
        node=data["node"], status=data["status"], source=data["source"], at=float(data["at"]),
        snap=data["snap"], base=data["base"], n=data["n"], mfrom=data["mfrom"],
        fields={name: _text(value) for name, value in fields.items()}, drop=tuple(drop),
        messages=messages,
    )


def _is_int(value: Any) -> bool:
    return type(value) is int and value >= 0


_CHECKS: dict[str, tuple[str, Any]] = {
    "id": ("a non-empty string", lambda v: type(v) is str and v != ""),
    "parent": ("a string or null", lambda v: v is None or type(v) is str),
    "step": ("a whole number >= 0", _is_int),
    "node": ("a string or null", lambda v: v is None or type(v) is str),
    "status": ("a status", lambda v: type(v) is str and v in _STATUSES),
    "source": ("`run`, `edit` or `fork`", lambda v: type(v) is str and v in _SOURCES),
    "at": ("a finite number of seconds", lambda v: type(v) in (int, float) and _finite(v)),
    "snap": ("true or false", lambda v: type(v) is bool),
    "base": ("a whole number >= 0", _is_int),
    "n": ("a whole number >= 0", _is_int),
    "mfrom": ("a whole number >= 0", _is_int),
}


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float (`10**400`)
        return False


def _check_envelope(data: dict[str, Any]) -> None:
    for key, (expected, ok) in _CHECKS.items():
        if key not in data:
            raise CorruptRecord(f"it has no `{key}`")
        if not ok(data[key]):
            raise CorruptRecord(f"`{key}` is {_short(data[key])}, not {expected}")
    if data["mfrom"] > data["n"]:
        raise CorruptRecord("its `mfrom` is larger than its `n`")
    if data["snap"] and data["mfrom"] != 0:
        raise CorruptRecord("it is a snapshot with `mfrom` other than 0")


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return f"`{text[:40]}`"


def _text(value: Any) -> str:
    return compact(value)
