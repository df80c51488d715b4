"""`PgCheckpointer`: threads in PostgreSQL, shared by every worker, notebook and web server.

Each step is one statement (one round trip): it checks the thread's head and the run's lease,
moves the head, stores the fields the step changed and appends its new messages, and returns
whether someone asked the run to stop. Loading reads one snapshot, at most `MAX_CHAIN` deltas
and the messages, in one statement; a run resuming a thread reads the head's copy in the
thread's row instead, with its lease (`runs.py`). See `sql.py` for the tables, `history.py`
for history and `known.py` for what the store remembers between statements.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from agentflow_nb import _sync
from agentflow_nb._sync import off_loop
from agentflow_nb.checkpointer.base import Checkpoint, StateChanges
from agentflow_nb.checkpointer.pg.db import Database
from agentflow_nb.checkpointer.pg.history import read_history, statuses
from agentflow_nb.checkpointer.pg.known import HeadCopy, KnownThreads
from agentflow_nb.checkpointer.pg.leases import Leases, default_owner_name
from agentflow_nb.checkpointer.pg.migrate import check_not_newer, current_version, migrate
from agentflow_nb.checkpointer.pg.plan import plan_write, small
from agentflow_nb.checkpointer.pg.rows import CorruptCheckpointError, build, chain, checked, fields_of, meta_of, split
from agentflow_nb.checkpointer.pg.runs import RunControl, checked_thread_id, numbered
from agentflow_nb.checkpointer.pg.sql import LATEST, Statements, quote_schema
from agentflow_nb.errors import ThreadBusyError, ThreadConflictError
from agentflow_nb.state import AgentState

__all__ = ["PgCheckpointer"]

MiB = 1024 * 1024


class PgCheckpointer(RunControl):
    """Saves threads in PostgreSQL (psycopg 3), so many processes and machines can share them.

    One run per thread across every process: a run holds a lease on its thread (owner and
    expiry, renewed while it runs); a second one gets `ThreadBusyError` naming the owner; a
    lease whose process died expires after `lease_seconds` and the thread can be taken over.
    `stop()` from any process reaches the run at its next node boundary.

    Args:
        target: a DSN (`"postgresql://user@host/db"`; we open, and `close()` closes, our own
            pool) or a `psycopg_pool.ConnectionPool` (yours: never closed by us).
        schema: the PostgreSQL schema holding the tables (created and migrated on first use).
        lease_seconds: how long a run's lease lasts without renewal (renewed every third of it).
        owner_name: how other processes see the runs of this store (default `host pid N`).
        listen: `LISTEN` for stop requests. Off behind a transaction-mode pooler; stops then
            arrive with the next checkpoint write or lease renewal.
        prepare: prepare frequent statements on the server (our own pool; a pool of yours
            decides by its connections' `prepare_threshold`). Off behind a transaction-mode pooler.
        max_connections: size of our own pool.
        max_value_bytes: refuse (with `UnsaveableValueError`, saving nothing) a field or message
            whose JSON is larger than this; None for no limit.
        retry_seconds: how long to retry a statement over lost connections (a server restart).

    Example:
        >>> from agentflow_nb.checkpointer import PgCheckpointer
        >>> PgCheckpointer("postgresql://nobody@127.0.0.1:9/none", schema="bad name")
        Traceback (most recent call last):
        ...
        ValueError: schema `bad name` is not a plain name; use letters, digits and `_` (at most 63, not starting with a digit), e.g. schema="agentflow"
    """

    any_loop = True

    def __init__(
        self,
        target: Any,
        *,
        schema: str = "agentflow",
        lease_seconds: float = 30.0,
        owner_name: str | None = None,
        listen: bool = True,
        prepare: bool = True,
        max_connections: int = 8,
        max_value_bytes: int | None = 8 * MiB,
        retry_seconds: float = 30.0,
    ) -> None:
        super().__init__()
        quote_schema(schema)  # a bad name is refused before anything connects
        if not lease_seconds > 0:
            raise ValueError(f"lease_seconds must be > 0, got `{lease_seconds!r}`")
        # First, since it starts connecting (see `connect`): the rest is made while the server
        # sets up the connection.
        self.db = Database(target, prepare=prepare, max_connections=max_connections, retry_seconds=retry_seconds)
        self.sql = Statements(schema)
        # A step's write, in its three shapes (see `Statements`), run through libpq directly.
        self._writes = {shape: numbered(shape, schema) for shape in ("write_fields", "write_append", "write")}
        self.schema = schema
        self.lease_seconds = float(lease_seconds)
        self.max_value_bytes = max_value_bytes
        self.leases = Leases(self.db, self.sql, seconds=self.lease_seconds,
                             name=owner_name or default_owner_name(), listen=listen)
        self._ready = False
        self._ready_lock = threading.Lock()
        self.known = KnownThreads()

    def __repr__(self) -> str:
        return f"PgCheckpointer(schema={self.schema!r})"

    def __enter__(self) -> PgCheckpointer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop renewing leases and close our own pool (a pool you passed in stays open)."""
        self.leases.close()
        self.db.close()

    # -- schema ----------------------------------------------------------------------------

    def setup(self) -> list[int]:
        """Create or migrate the tables now (otherwise done on first use); the versions applied.

        Raises:
            SchemaVersionError: the database was migrated by a newer agentflow_nb.
        """
        applied = self.db.transaction(lambda cur: migrate(cur, self.sql))
        self._ready = True
        return applied

    def _ensure(self) -> None:
        if self._ready:
            return
        with self._ready_lock:
            if self._ready:
                return
            version = self.db.run(lambda cur: current_version(cur, self.sql))
            if version is not None:
                check_not_newer(version, self.schema)
            if version != LATEST:
                self.setup()
            self._ready = True

    # -- writing ---------------------------------------------------------------------------

    async def aput(self, checkpoint: Checkpoint, *, changes: StateChanges | None = None) -> None:
        """Save `checkpoint`: the fields `changes` names and the new messages, after checking
        the thread's head and this run's lease (one statement)."""
        await off_loop(self._put, checkpoint, changes)

    async def aput_last(self, checkpoint: Checkpoint, *, changes: StateChanges | None = None) -> None:
        """Save a run's last checkpoint and end the run's lease in the same statement."""
        await off_loop(self._put, checkpoint, changes, True)

    def _put(self, checkpoint: Checkpoint, changes: StateChanges | None, release: bool = False) -> None:
        self._ensure()
        thread_id = checked_thread_id(checkpoint.thread_id)
        tip, parent = self.known.recall(thread_id, checkpoint.parent_id)
        owner = self.leases.held(thread_id)
        plan = plan_write(checkpoint, changes, tip=tip, parent=parent, limit=self.max_value_bytes)
        released = release and owner is not None
        params = {**plan.params, "owner": owner, "ttl": self.lease_seconds, "release": released}

        shape = "write" if plan.params["copy_log"] is not None else "write_append" if plan.params["bodies"] \
            else "write_fields"
        statement = self._writes[shape]
        try:
            rows = self.db.write(statement, params)
        except self.db.psycopg.errors.UniqueViolation as exc:
            # A new head's seq is taken already: the thread's row was deleted or reset by hand
            # while its checkpoints stayed. The statement saved nothing.
            raise CorruptCheckpointError(
                f"thread `{thread_id}` has checkpoints in `{self.schema}.checkpoints` but its row in "
                f"`{self.schema}.threads` is gone or was reset (edited by hand), so checkpoint "
                f"`{checkpoint.checkpoint_id}` cannot be saved after them; restore the row from a backup"
            ) from exc
        if not rows:
            seq = self._refused(thread_id, checkpoint.checkpoint_id, plan.expected, owner)
        else:
            seq = int(rows[0][0])  # type: ignore[arg-type]
            if released:  # the lease ended with this write: `_release_lease` has nothing to do
                self.leases.drop(thread_id)
            elif rows[0][1] == b"t" and owner is not None:
                self.leases.flag(owner)
        self.known.seen(thread_id, (checkpoint.checkpoint_id, seq), {checkpoint.checkpoint_id: plan.meta(seq)})

    def _refused(self, thread_id: str, checkpoint_id: str, expected: str | None, owner: str | None) -> int:
        """Why a write matched no row: raise the error, or return the seq if it was saved after all
        (a retry after the connection died between the commit and its reply)."""

        def look(cur: Any) -> tuple[Any, ...] | None:
            cur.execute(self.sql.thread_row, (thread_id,))
            return cur.fetchone()

        row = self.db.run(look)
        if row is not None and row[0] == checkpoint_id:
            return int(row[1])
        self.known.forget(thread_id)
        head, _, holder, holder_name, _, live = row or (None, 0, None, None, None, False)
        if holder is not None and live and holder != owner:
            if owner is not None:
                raise ThreadBusyError(thread_id, f" in worker `{holder_name}`, which took it over after this "
                                                 "run's lease expired (nothing was saved)")
            raise ThreadBusyError(thread_id, f" in worker `{holder_name}`")
        raise ThreadConflictError(thread_id, expected, head)

    # -- reading ---------------------------------------------------------------------------

    async def aget(
        self,
        thread_id: str,
        checkpoint_id: str | None = None,
        *,
        schema: type[AgentState] = AgentState,
    ) -> Checkpoint | None:
        """The newest checkpoint (or the one named), read with its chain in one statement."""
        return await off_loop(self._get, thread_id, checkpoint_id, schema)

    def _get(self, thread_id: str, checkpoint_id: str | None, schema: type[AgentState]) -> Checkpoint | None:
        preloaded = self.known.take_preloaded(thread_id) if checkpoint_id is None else False
        if preloaded is None:  # a new thread: the lease made its row
            return None
        if preloaded is not False:
            return self._from_copy(thread_id, preloaded, schema)
        records = self._read_chain(thread_id, checkpoint_id)
        if not records and checkpoint_id is None:
            records = self._headless(thread_id)
        if not records:
            return None
        target, extra = split(records[-1])
        rows = {row.checkpoint_id: checked(row, thread_id, self.schema) for row, _ in map(split, records)}
        links = chain(target, rows, thread_id, self.schema)
        fields = fields_of(links)
        loaded = build(target, fields, extra[0] or "", thread_id=thread_id, schema=schema, schema_name=self.schema)
        tip = (target.checkpoint_id, target.seq) if checkpoint_id is None else None
        self.known.seen(thread_id, tip, {target.checkpoint_id: meta_of(target, small(fields))})
        return loaded

    def _from_copy(self, thread_id: str, copy: HeadCopy, schema: type[AgentState]) -> Checkpoint:
        """The head from its thread row's copy, read with the lease."""
        row = checked(copy.row, thread_id, self.schema)
        fields = dict(zip(row.names, row.values, strict=True))
        loaded = build(row, fields, copy.messages, thread_id=thread_id, schema=schema, schema_name=self.schema)
        self.known.seen(thread_id, (row.checkpoint_id, row.seq), {row.checkpoint_id: meta_of(row, fields, chained=False)})
        return loaded

    def _headless(self, thread_id: str) -> list[tuple[Any, ...]]:
        """No head checkpoint was read: a new thread, or one whose head row is gone (damage,
        never to be taken for a new thread, which a run would silently start over)."""
        row = self.db.run(lambda cur: cur.execute(self.sql.thread_row, (thread_id,)).fetchone())
        if row is None or row[0] is None:
            return []
        records = self._read_chain(thread_id, None)  # its first checkpoint may have come meanwhile
        if not records:
            raise CorruptCheckpointError(
                f"thread `{thread_id}` has head checkpoint `{row[0]}`, which is missing from "
                f"`{self.schema}.checkpoints` or damaged (rows deleted or edited by hand); restore the rows "
                "from a backup, or load an earlier checkpoint by its id"
            )
        return records

    def _read_chain(self, thread_id: str, checkpoint_id: str | None) -> list[tuple[Any, ...]]:
        self._ensure()
        if "\x00" in thread_id:
            return []
        params = {"thread": thread_id, "id": checkpoint_id}
        statement = self.sql.get_head if checkpoint_id is None else self.sql.get_one

        def read(cur: Any) -> list[tuple[Any, ...]]:
            cur.execute(statement, params)
            return cur.fetchall()

        return self.db.run(read)

    async def alist(
        self, thread_id: str, *, schema: type[AgentState] = AgentState, limit: int | None = None
    ) -> list[Checkpoint]:
        """The thread's checkpoints, newest first; `limit` is applied in SQL."""
        return await off_loop(self._list, thread_id, schema, limit)

    def _list(self, thread_id: str, schema: type[AgentState], limit: int | None) -> list[Checkpoint]:
        self._ensure()
        if limit is not None and limit <= 0 or "\x00" in thread_id:
            return []
        out, newest, fields = read_history(self.db, self.sql, thread_id, schema, limit)
        if newest is None:
            self._headless(thread_id)  # no rows at all, though the thread names a head: damage
            return []
        self.known.seen(thread_id, (newest.checkpoint_id, newest.seq), {newest.checkpoint_id: meta_of(newest, small(fields))})
        return out

    async def athreads(self, *, status: Any = None) -> list[str]:
        """Ids of the saved threads, sorted; `status` keeps only threads whose newest checkpoint
        has that status (an `ExecutionStatus`, its value, or several of them)."""
        return await off_loop(self.threads, status)

    def threads(self, status: Any = None) -> list[str]:
        """Sync twin of `athreads`, e.g. `threads(status=ExecutionStatus.INTERRUPTED_BEFORE)`
        lists every thread paused for approval."""
        self._ensure()
        wanted = statuses(status)

        def read(cur: Any) -> list[str]:
            if wanted is None:
                cur.execute(self.sql.threads_all)
            else:
                cur.execute(self.sql.threads_with, (wanted,))
            return [row[0] for row in cur.fetchall()]

        return self.db.run(read)

    # -- retention ---------------------------------------------------------------------------

    async def aprune(self, config: Mapping[str, Any], keep_last: int) -> int:
        """Delete all but the newest `keep_last` checkpoints of `config["thread_id"]`; the number
        deleted. Never deleted: the newest checkpoint (a pause waits there), the checkpoints a
        kept one is stored against, and any checkpoint another thread was forked from.

        Raises:
            ThreadBusyError: a run holds the thread (prune it when it paused or finished).
        """
        thread_id = _config_thread(config)
        if isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 1:
            raise ValueError(f"keep_last must be a whole number >= 1, got `{keep_last!r}`")
        async with self.lease(thread_id):
            removed = await off_loop(self._prune, thread_id, keep_last)
        return removed

    def prune(self, config: Mapping[str, Any], keep_last: int) -> int:
        """Sync twin of `aprune`."""
        return _sync.run(self.aprune(config, keep_last))

    def _prune(self, thread_id: str, keep_last: int) -> int:
        from agentflow_nb.checkpointer.pg.retention import prune

        removed = self.db.transaction(lambda cur: prune(cur, self.sql, thread_id, keep_last))
        self.known.forget(thread_id)
        return removed


# -- helpers ------------------------------------------------------------------------------


def _config_thread(config: Mapping[str, Any]) -> str:
    thread_id = config.get("thread_id") if isinstance(config, Mapping) else None
    if not isinstance(thread_id, str) or not thread_id:
        raise ValueError(f"prune needs config={{'thread_id': '...'}} naming a thread; got `{config!r}`")
    return thread_id
