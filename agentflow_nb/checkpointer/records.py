"""The line format of `FileCheckpointer`: one JSON object per checkpoint, with a checksum.

A line reads `{"sum":"<crc32 hex>","v":1,"id":...,"step":...,"node":...,"status":...,...}`. The
checksum covers the same object without its `sum` member. A `snap` record holds the whole state;
a delta holds only what changed since its `parent`: the messages after the parent's first
`mfrom`, and the changed `fields` (`drop` lists fields that went away). `base` is the offset of
the snapshot a record's chain starts from, so a reader can begin there.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

from agentflow_nb.checkpointer.base import Checkpoint
from agentflow_nb.errors import AgentflowError

__all__ = [
    "CorruptRecord",
    "Record",
    "UnsafeRecordError",
    "encode_record",
    "parse_record",
]

VERSION = 1
_PREFIX = b'{"sum":"'
_SUM_END = len(_PREFIX) + 8
ENVELOPE = frozenset(
    {"v", "id", "thread", "step", "node", "status", "source", "parent", "at", "snap", "base",
     "n", "mfrom", "fields", "drop", "messages"}
)
#: Keys that serializers use to name code to import or call; data never needs them.
CODE_KEYS = frozenset(
    {"__class__", "__module__", "__reduce__", "__reduce_ex__", "__getstate__", "__setstate__",
     "__pickle__", "py/object", "py/reduce", "py/type", "py/function", "py/newobj", "py/newargs"}
)


class CorruptRecord(ValueError):
    """A line that is torn or fails its checksum; readers skip it with a warning."""


class UnsafeRecordError(AgentflowError, ValueError):
    """A record names a class, module or pickle. It is refused, never loaded."""


@dataclass(frozen=True)
class Record:
    """One parsed line; `fields` and `messages` are kept as JSON text."""

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
    messages: tuple[str, ...]


def encode_record(
    checkpoint: Checkpoint,
    *,
    snap: bool,
    base: int,
    mfrom: int,
    fields: dict[str, str],
    drop: list[str],
    messages: list[str],
) -> bytes:
    """The line for `checkpoint`, newline included. `fields`/`messages` are JSON text."""
    head = {
        "v": VERSION, "id": checkpoint.checkpoint_id, "thread": checkpoint.thread_id,
        "step": checkpoint.step, "node": checkpoint.node, "status": checkpoint.status.value,
        "source": checkpoint.source, "parent": checkpoint.parent_id, "at": checkpoint.created_at,
        "snap": snap, "base": base, "n": len(checkpoint.state.messages), "mfrom": mfrom, "drop": drop,
    }
    field_text = ",".join(f"{json.dumps(name)}:{text}" for name, text in fields.items())
    body = (
        json.dumps(head, separators=(",", ":"))[:-1]
        + f',"fields":{{{field_text}}},"messages":[{",".join(messages)}]}}'
    ).encode()
    return b'{"sum":"%08x",' % zlib.crc32(body) + body[1:] + b"\n"


def _guard(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    for key, _ in pairs:
        if key in CODE_KEYS:
            raise UnsafeRecordError(f"`{key}`")
    return dict(pairs)


def _text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def parse_record(raw: bytes, offset: int, where: str) -> Record:
    """Check and parse one line read at `offset` of `where` (a file name, for messages).

    Raises:
        CorruptRecord: torn, or the checksum does not match.
        UnsafeRecordError: the record names a class, module or pickle, or has unknown keys.
    """
    if not raw.endswith(b"\n"):
        raise CorruptRecord(f"torn record at byte {offset} of {where} (no line end)")
    if not raw.startswith(_PREFIX) or raw[_SUM_END : _SUM_END + 2] != b'",':
        raise CorruptRecord(f"record at byte {offset} of {where} has no checksum")
    body = b"{" + raw[_SUM_END + 2 : -1]
    try:
        expected = int(raw[len(_PREFIX) : _SUM_END], 16)
    except ValueError:
        raise CorruptRecord(f"record at byte {offset} of {where} has a damaged checksum") from None
    if zlib.crc32(body) != expected:
        raise CorruptRecord(f"record at byte {offset} of {where} fails its checksum")
    try:
        data = json.loads(body, object_pairs_hook=_guard)
    except UnsafeRecordError as exc:
        raise UnsafeRecordError(
            f"record at byte {offset} of {where} names code to load ({exc}); checkpoints hold "
            "plain JSON data only, so it is refused. Remove that record if you did not write it."
        ) from None
    unknown = set(data) - ENVELOPE
    if unknown or data.get("v") != VERSION:
        raise UnsafeRecordError(
            f"record at byte {offset} of {where} is not a version-{VERSION} checkpoint "
            f"(unknown keys {sorted(unknown)}, version {data.get('v')!r}); it is refused"
        )
    return Record(
        offset=offset, size=len(raw), id=data["id"], parent=data["parent"], step=data["step"],
        node=data["node"], status=data["status"], source=data["source"], at=data["at"],
        snap=data["snap"], base=data["base"], n=data["n"], mfrom=data["mfrom"],
        fields={name: _text(value) for name, value in data["fields"].items()},
        drop=tuple(data["drop"]), messages=tuple(_text(m) for m in data["messages"]),
    )
