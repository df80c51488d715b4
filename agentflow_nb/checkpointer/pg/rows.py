"""Checkpoint rows of `PgCheckpointer`: what a writer remembers of them, and how a state is rebuilt.

A row is a snapshot of every non-message field or a delta of the fields its step changed; a
state is its snapshot with the deltas after it applied in order (`chain`), plus the first `n`
messages of its log. A chain that does not reach a snapshot is damage, reported as an error,
never skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from pydantic import ValidationError

from agentflow_nb.checkpointer.base import Checkpoint, decode_state
from agentflow_nb.checkpointer.codec import split_messages
from agentflow_nb.checkpointer.packed import FRAME_KEY, loaded_frames
from agentflow_nb.errors import AgentflowError
from agentflow_nb.state import AgentState, ExecutionStatus

__all__ = ["CorruptCheckpointError", "Meta", "Row", "build", "checked", "fields_of", "meta_of"]

_SOURCES = ("run", "edit", "fork")
_STATUSES = frozenset(status.value for status in ExecutionStatus)


class CorruptCheckpointError(AgentflowError, ValueError):
    """Stored checkpoint rows are damaged or were edited by hand so that they cannot be loaded."""


class Row(NamedTuple):
    """One `checkpoints` row, as `sql._COLUMNS` lists it."""

    seq: int
    checkpoint_id: str
    parent_id: str | None
    step: int
    node: str | None
    status: str
    source: str
    created_at: float
    snap: bool
    base_seq: int
    snap_bytes: int
    chain_bytes: int
    log: int
    n: int
    names: list[str]
    values: list[str]
    dropped: list[str]


class Meta(NamedTuple):
    """What a writer must know of a saved checkpoint to write a delta after it."""

    seq: int
    base_seq: int
    snap_bytes: int
    chain_bytes: int
    log: int
    n: int
    #: Its whole set of fields (JSON texts), when known and small: copied to the thread's row.
    fields: dict[str, str] | None = None
    #: False when it was read from the thread row's copy: its chain of rows was never read, so
    #: the next write is a snapshot rather than a delta built on rows that may be damaged.
    chained: bool = True


def meta_of(row: Row, fields: dict[str, str] | None = None, *, chained: bool = True) -> Meta:
    """The writer's view of a row (`fields`: its whole set of fields, if they are known)."""
    return Meta(row.seq, row.base_seq, row.snap_bytes, row.chain_bytes, row.log, row.n, fields, chained)


def checked(row: Row, thread_id: str, schema_name: str) -> Row:
    """`row` if its columns fit together, else `CorruptCheckpointError` naming it: rows written
    by hand must fail with a message, never deep inside the loader."""
    problem = None
    if len(row.names) != len(row.values):
        problem = f"{len(row.names)} field names but {len(row.values)} values"
    elif None in row.names or None in row.values or None in row.dropped:
        problem = "a NULL field name or value"
    elif row.status not in _STATUSES:
        problem = f"status `{row.status}`"
    elif row.source not in _SOURCES:
        problem = f"source `{row.source}`"
    elif row.base_seq > row.seq:
        problem = f"a snapshot (base_seq {row.base_seq}) after itself (seq {row.seq})"
    if problem is None:
        return row
    raise CorruptCheckpointError(
        f"checkpoint `{row.checkpoint_id}` (step {row.step}) of thread `{thread_id}` in `{schema_name}.checkpoints` "
        f"has {problem} (edited by hand?); restore the row from a backup, or load an earlier checkpoint by its id"
    )


def chain(target: Row, by_id: dict[str, Row], thread_id: str, schema_name: str) -> list[Row]:
    """The rows from `target`'s snapshot to `target`, oldest first."""
    links = [target]
    while not links[-1].snap:
        parent = by_id.get(links[-1].parent_id or "")
        if parent is None or parent.seq >= links[-1].seq or parent.seq < target.base_seq:
            raise CorruptCheckpointError(
                f"checkpoint `{links[-1].checkpoint_id}` of thread `{thread_id}` is a delta whose parent "
                f"`{links[-1].parent_id}` is missing from `{schema_name}.checkpoints` (rows deleted or edited "
                "by hand); restore the rows from a backup, or load an earlier checkpoint by its id"
            )
        links.append(parent)
    return links[::-1]


def fields_of(links: Sequence[Row]) -> dict[str, str]:
    """The JSON text of every non-message field after applying `links` in order."""
    fields: dict[str, str] = {}
    for link in links:
        if link.snap:
            fields = {}
        fields.update(zip(link.names, link.values, strict=True))
        for name in link.dropped:
            fields.pop(name, None)
    return fields


def build(
    row: Row,
    fields: dict[str, str],
    messages: Sequence[str] | str,
    *,
    thread_id: str,
    schema: type[AgentState],
    schema_name: str,
) -> Checkpoint:
    """The `Checkpoint` of `row`, its state validated through `schema` (no imports, no calls).

    `messages` is the JSON text of each message, or all of them joined by commas (as the load
    statement returns them, so that a long conversation is one value, not one per message).
    """
    if isinstance(messages, str):
        # A thread paused in subgraphs keeps their conversations after the root's in one log:
        # it is split there by count, so it needs its messages one by one.
        messages = split_messages(messages.encode()) if FRAME_KEY in fields else [messages] if messages else []
    try:
        state = decode_state(schema, fields, messages)
        status = ExecutionStatus(row.status)
    except (ValidationError, ValueError) as exc:
        raise CorruptCheckpointError(
            f"checkpoint `{row.checkpoint_id}` (step {row.step}) of thread `{thread_id}` in "
            f"`{schema_name}.checkpoints` does not load as `{schema.__name__}`: {exc}"
        ) from exc
    rebuilt = len(state.messages) + sum(len(frame.messages or ()) for frame in loaded_frames(state))
    if rebuilt != row.n:  # message rows deleted, or `n` forged: never load a conversation cut short
        raise CorruptCheckpointError(
            f"checkpoint `{row.checkpoint_id}` (step {row.step}) of thread `{thread_id}` in "
            f"`{schema_name}.checkpoints` names {row.n} messages, but `{schema_name}.messages` rebuilds "
            f"{rebuilt} (rows deleted or edited by hand); restore the rows from a backup, or load an "
            "earlier checkpoint by its id"
        )
    return Checkpoint(
        checkpoint_id=row.checkpoint_id, thread_id=thread_id, step=row.step, node=row.node, status=status,
        source=row.source,  # type: ignore[arg-type]
        parent_id=row.parent_id, state=state, created_at=row.created_at,
    )


def split(record: Sequence[Any]) -> tuple[Row, Any]:
    """A fetched record as its `Row` and whatever columns follow it."""
    return Row._make(record[:17]), record[17:]
