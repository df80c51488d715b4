"""What one checkpoint write stores: a delta or a snapshot of the fields, and which messages.

The writer knows (from its last read or write) the thread's head and the parent checkpoint's
metadata. Fields: a delta of the changed fields when the parent's chain is short enough, else a
snapshot. Messages: appended to (or, with none new, shared with) the parent's log when the
parent is the head, since the head's log always ends at the head; otherwise a new log that
copies the kept prefix on the server (a branch, or a step that rewrote messages).

The thread's row also gets the new checkpoint's whole set of fields when the thread comes to
rest there (a pause, a stop, an error, the end, or an edit of such a checkpoint), the writer
knows them (a snapshot, or a delta after a parent whose fields it knows) and they are small: a
resume then reads that row alone. Running steps leave that copy out. A parent known only from that copy is followed by a snapshot, so that no
chain of deltas ever builds on rows this writer has not seen.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any, NamedTuple

from agentflow_nb.checkpointer.base import Checkpoint, StateChanges, encode_fields, encode_messages
from agentflow_nb.checkpointer.pg.rows import Meta
from agentflow_nb.checkpointer.pg.sql import MAX_CHAIN
from agentflow_nb.errors import UnsaveableValueError
from agentflow_nb.state import ExecutionStatus

__all__ = ["HEAD_COPY_MAX_BYTES", "Plan", "plan_write", "small"]

#: Deltas may add up to this many bytes (or the snapshot's size, if larger) before a new snapshot.
SNAPSHOT_MIN_BYTES = 64 * 1024
#: The head's fields are copied into the thread's row up to this many bytes (else a resume
#: reads the head's chain of checkpoints).
HEAD_COPY_MAX_BYTES = 32 * 1024


class Plan(NamedTuple):
    """The statement's parameters, the head the write expects, and the new checkpoint's metadata."""

    params: dict[str, Any]
    expected: str | None
    snap: bool
    base_seq: int | None
    snap_bytes: int
    chain_bytes: int
    log: int | None
    n: int
    fields: dict[str, str] | None

    def meta(self, seq: int) -> Meta:
        """The metadata of the saved checkpoint, once the server gave it `seq`."""
        base = seq if self.snap else self.base_seq
        return Meta(seq, base if base is not None else seq, self.snap_bytes, self.chain_bytes,
                    self.log if self.log is not None else seq, self.n, self.fields)


def plan_write(
    checkpoint: Checkpoint,
    changes: StateChanges | None,
    *,
    tip: tuple[str | None, int] | None,
    parent: Meta | None,
    limit: int | None,
) -> Plan:
    """Plan the write of `checkpoint` after `parent` on a thread whose head is `tip`."""
    state = checkpoint.state
    expected = tip[0] if tip is not None else checkpoint.parent_id
    if changes is None:
        parent = None
    seq = tip[1] + 1 if tip is not None else None

    n = len(state.messages)
    log, copy_log, copy_n, start = None, None, 0, 0
    kept = changes.messages_from if parent is not None and changes is not None else None
    if parent is not None and kept == parent.n and checkpoint.parent_id == expected:
        log, start = parent.log, parent.n  # the head's log ends at the head: append (or share)
    elif parent is not None and kept is not None and 0 < kept <= parent.n:
        copy_log, copy_n, start = parent.log, kept, kept  # a branch: copy the kept prefix
    bodies = encode_messages(state, start)
    _check_sizes(bodies, start, limit, "messages")

    delta = None
    if parent is not None and parent.chained and changes is not None and changes.fields is not None \
            and seq is not None and seq - parent.base_seq <= MAX_CHAIN:
        fields = encode_fields(state, changes.fields)
        size = _size(fields)
        if parent.chain_bytes + size <= max(parent.snap_bytes, SNAPSHOT_MIN_BYTES):
            delta = fields, sorted(changes.fields - fields.keys()), size
    full: dict[str, str] | None
    if delta is None:
        fields = encode_fields(state)
        size = _size(fields)
        snap, dropped, base, snap_bytes, chain_bytes = True, [], None, size, 0
        full = fields if size <= HEAD_COPY_MAX_BYTES else None
    else:
        assert parent is not None
        fields, dropped, size = delta
        snap, base, snap_bytes, chain_bytes = False, parent.base_seq, parent.snap_bytes, parent.chain_bytes + size
        full = _after(parent.fields, fields, dropped)
    _check_fields(fields, limit)
    # The copy is kept for a thread at rest (paused, stopped, failed, done), where runs resume:
    # a running step leaves it out (NULL), which keeps the row it rewrites small.
    whole = full is not None and checkpoint.status is not ExecutionStatus.RUNNING
    # the whole set for the thread's row, unless it is the checkpoint row's own (sent once)
    extra = full if full is not None and whole and full is not fields and full.keys() != fields.keys() else None

    params = {
        "thread": checkpoint.thread_id, "id": checkpoint.checkpoint_id, "parent": checkpoint.parent_id,
        "expected": expected, "status": checkpoint.status.value, "step": checkpoint.step, "node": checkpoint.node,
        "source": checkpoint.source, "at": checkpoint.created_at, "snap": snap, "base": base,
        "snap_bytes": snap_bytes, "chain_bytes": chain_bytes, "log": log, "n": n,
        "names": _names(tuple(fields)), "values": _array(fields.values()), "dropped": _names(tuple(dropped)),
        "copy_log": copy_log, "copy_n": copy_n, "start": start, "bodies": _array(bodies) if bodies else None,
        "whole": whole, "full_names": _names(tuple(extra)) if extra else None,
        "full_values": _array(extra.values()) if extra else None,
    }
    return Plan(params, expected, snap, base, snap_bytes, chain_bytes, log, n, full)


def small(fields: dict[str, str] | None) -> dict[str, str] | None:
    """`fields` if they are small enough to be copied into the thread's row, else None."""
    return fields if fields is not None and _size(fields) <= HEAD_COPY_MAX_BYTES else None


def _after(before: dict[str, str] | None, fields: dict[str, str], dropped: list[str]) -> dict[str, str] | None:
    """The whole set of fields after a delta, when `before` is known and the result is small."""
    if before is None:
        return None
    full = {**before, **fields}
    for name in dropped:
        full.pop(name, None)
    return small(full)


@lru_cache(maxsize=1024)
def _names(names: tuple[str, ...]) -> str:
    """Field names as an array literal (a step usually writes the same names as the one before)."""
    return _array(names)


def _array(texts: Iterable[str]) -> str:
    """Texts as one PostgreSQL array literal (`{"a","b"}`), sent as a single text parameter:
    much cheaper to build than the driver's adaptation of a list, element by element."""
    return "{" + ",".join(['"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"' for t in texts]) + "}"


def _size(fields: dict[str, str]) -> int:
    return sum(len(name) + len(text) for name, text in fields.items())


def _check_fields(fields: dict[str, str], limit: int | None) -> None:
    for name, text in fields.items():
        if "\x00" in name:
            raise UnsaveableValueError(
                f"field name {name!r} contains a NUL character, which PostgreSQL cannot store; rename the field"
            )
        if _over(text, limit):
            raise UnsaveableValueError(_too_large(f"field `{name}`", len(text.encode()), limit))


def _check_sizes(bodies: list[str], start: int, limit: int | None, what: str) -> None:
    if limit is None:
        return
    for index, text in enumerate(bodies, start):
        if _over(text, limit):
            raise UnsaveableValueError(_too_large(f"`{what}[{index}]`", len(text.encode()), limit))


def _over(text: str, limit: int | None) -> bool:
    """Whether `text` is over `limit` bytes in UTF-8 (encoded only when it could be)."""
    return limit is not None and len(text) * 4 > limit and len(text.encode("utf-8", "surrogatepass")) > limit


def _too_large(where: str, size: int, limit: int | None) -> str:
    assert limit is not None
    return (
        f"{where} is {size / 1e6:.1f} MB as JSON, over this store's limit of {limit / 1e6:.1f} MB; "
        "nothing was saved. Keep large data outside the state (a file or object store) and save a "
        "reference, or raise the limit with PgCheckpointer(..., max_value_bytes=...)"
    )
