"""History of a thread in PostgreSQL: its newest checkpoints, read in one snapshot."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agentflow_nb.checkpointer.base import Checkpoint
from agentflow_nb.checkpointer.pg.db import Database
from agentflow_nb.checkpointer.pg.rows import CorruptCheckpointError, Row, build, chain, checked, fields_of, split
from agentflow_nb.checkpointer.pg.sql import Statements
from agentflow_nb.errors import did_you_mean
from agentflow_nb.state import AgentState, ExecutionStatus

__all__ = ["History", "read_history", "statuses"]

History = tuple[list[Checkpoint], Row | None, dict[str, str] | None]


def read_history(
    db: Database, sql: Statements, thread_id: str, schema: type[AgentState], limit: int | None
) -> History:
    """The thread's checkpoints, newest first (`limit` applied in SQL); also the newest row and
    its fields, for the writer. No rows at all: an empty list and None."""

    def read(cur: Any) -> tuple[list[tuple[Any, ...]], dict[int, list[str]]]:
        # Both reads see one snapshot: a prune committed between them would otherwise take
        # away the messages of rows already read, which then look damaged.
        cur.execute(sql.snapshot_reads)
        cur.execute(sql.list_rows, {"thread": thread_id, "limit": limit})
        rows = cur.fetchall()
        top = [split(r)[0] for r in (rows[-limit:] if limit is not None else rows)]
        wanted: dict[int, int] = {}
        for row in top:
            wanted[row.log] = max(wanted.get(row.log, 0), row.n)
        logs = {"thread": thread_id, "logs": list(wanted), "ns": list(wanted.values())}
        cur.execute(sql.list_messages, logs)
        return rows, dict(cur.fetchall())

    records, logs = db.transaction(read)
    if not records:
        return [], None, None
    name = sql.schema
    rows = [checked(split(r)[0], thread_id, name) for r in records]
    _check_head(rows[-1], records[-1][-1], thread_id, name)
    top = rows[-limit:] if limit is not None else rows
    fields = _fields_by_id(rows)
    by_id = {row.checkpoint_id: row for row in rows}
    out = []
    for row in reversed(top):
        row_fields = fields.get(row.checkpoint_id)
        if row_fields is None:  # its chain is broken: say which row
            row_fields = fields_of(chain(row, by_id, thread_id, name))
        messages = logs.get(row.log, [])[: row.n]
        out.append(build(row, row_fields, messages, thread_id=thread_id, schema=schema, schema_name=name))
    return out, rows[-1], fields.get(rows[-1].checkpoint_id)


def statuses(status: Any) -> list[str] | None:
    """The status values `threads(status=...)` names, checked; None for all."""
    if status is None:
        return None
    items: Iterable[Any] = [status] if isinstance(status, (str, ExecutionStatus)) else status
    values = []
    known = [s.value for s in ExecutionStatus]
    for item in items:
        value = item.value if isinstance(item, ExecutionStatus) else item
        if value not in known:
            raise ValueError(
                f"status `{item}` is not an execution status; expected one of "
                f"{', '.join(f'`{k}`' for k in known)}{did_you_mean(str(value), known)}"
            )
        values.append(value)
    return values


def _check_head(newest: Row, head: str | None, thread_id: str, schema_name: str) -> None:
    """History must start at the thread's head: when the newest row listed is not it, the head
    row was deleted (or the thread row edited), and listing the older rows would hide that."""
    if head is None:
        raise CorruptCheckpointError(
            f"thread `{thread_id}` has checkpoints in `{schema_name}.checkpoints` but no row in "
            f"`{schema_name}.threads` (deleted or edited by hand); restore the row from a backup"
        )
    if newest.checkpoint_id != head:
        raise CorruptCheckpointError(
            f"thread `{thread_id}` has head checkpoint `{head}`, but the newest row in "
            f"`{schema_name}.checkpoints` is `{newest.checkpoint_id}` (rows deleted or edited by hand); "
            "restore the rows from a backup, or load an earlier checkpoint by its id"
        )


def _fields_by_id(rows: list[Row]) -> dict[str, dict[str, str]]:
    """Fields of each row whose chain lies within `rows` (in seq order), built incrementally."""
    done: dict[str, dict[str, str]] = {}
    for row in rows:
        if row.snap:
            done[row.checkpoint_id] = fields_of([row])
        elif row.parent_id in done:
            fields = dict(done[row.parent_id])
            fields.update(zip(row.names, row.values, strict=True))
            for name in row.dropped:
                fields.pop(name, None)
            done[row.checkpoint_id] = fields
    return done

