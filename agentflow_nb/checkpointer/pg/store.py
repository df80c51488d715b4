"""`PgCheckpointer`: threads in PostgreSQL, shared by every worker, notebook and web server.

Each step is one statement (one round trip): it checks the thread's head and the run's lease,
moves the head, stores the fields the step changed and appends its new messages, and returns
whether someone asked the run to stop. Loading reads one snapshot, at most `MAX_CHAIN` deltas
and the messages, in one statement. See `sql.py` for the tables.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from agentflow_nb import _sync
from agentflow_nb._sync import off_loop
from agentflow_nb.checkpointer.base import BaseCheckpointer, Checkpoint, StateChanges
from agentflow_nb.checkpointer.pg import wire
from agentflow_nb.checkpointer.pg.db import Database
from agentflow_nb.checkpointer.pg.leases import Leases, default_owner_name
from agentflow_nb.checkpointer.pg.migrate import check_not_newer, current_version, migrate
from agentflow_nb.checkpointer.pg.plan import plan_write, small
from agentflow_nb.checkpointer.pg.rows import (
    CorruptCheckpointError,
    Meta,
    Row,
    build,
    chain,
    checked,
    fields_of,
    meta_of,
    split,
)
from agentflow_nb.checkpointer.pg.sql import LATEST, Statements
from agentflow_nb.errors import ThreadBusyError, ThreadConflictError, did_you_mean
from agentflow_nb.state import AgentState, ExecutionStatus

__all__ = ["PgCheckpointer"]

log = logging.getLogger("agentflow_nb")
MiB = 1024 * 1024
_KNOWN_THREADS = 4096  # threads whose head this store remembers
_KNOWN_METAS = 16  # checkpoints remembered per thread (writers only need the newest)


class _Known:
    """What this store last saw of one thread: its head, and recent checkpoints' metadata."""

    __slots__ = ("metas", "tip", "whole")

    def __init__(self) -> None:
        self.tip: tuple[str | None, int] | None = None
        self.metas: OrderedDict[str, Meta] = OrderedDict()
        self.whole: str | None = None  # the one checkpoint whose meta keeps its fields


class _HeadCopy(NamedTuple):
    """The head as its thread's row keeps it (`sql.acquire`), and its messages joined."""

    row: Row
    messages: str


class PgCheckpointer(BaseCheckpointer):
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
        self.sql = Statements(schema)
        # A step's write, in its three shapes (see `Statements`), run through libpq directly;
        # each is numbered for libpq when first used.
        self._writes: dict[str, wire.Statement] = {}
        if not lease_seconds > 0:
            raise ValueError(f"lease_seconds must be > 0, got `{lease_seconds!r}`")
        self.schema = schema
        self.lease_seconds = float(lease_seconds)
        self.max_value_bytes = max_value_bytes
        self.db = Database(target, prepare=prepare, max_connections=max_connections, retry_seconds=retry_seconds)
        self.leases = Leases(self.db, self.sql, seconds=self.lease_seconds,
                             name=owner_name or default_owner_name(), listen=listen)
        self._ready = False
        self._ready_lock = threading.Lock()
        self._known_lock = threading.Lock()
        self._known: OrderedDict[str, _Known] = OrderedDict()
        self._preloaded: dict[str, _HeadCopy | None] = {}  # heads read with a lease (None: a new thread)

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

    # -- sync over async: blocking calls stay off shared event loops -------------------------

    # -- what this store knows of each thread ------------------------------------------------

    def _seen(self, thread_id: str, tip: tuple[str | None, int] | None, metas: Mapping[str, Meta] = {}) -> None:
        with self._known_lock:
            known = self._known.get(thread_id)
            if known is None:
                known = self._known[thread_id] = _Known()
                if len(self._known) > _KNOWN_THREADS:
                    self._known.popitem(last=False)
            else:
                self._known.move_to_end(thread_id)
            if tip is not None:
                known.tip = tip
            for checkpoint_id, meta in metas.items():
                if meta.fields is not None:  # fields are kept for one checkpoint: the newest to come
                    older = known.metas.get(known.whole or "")
                    if older is not None and known.whole != checkpoint_id:
                        known.metas[known.whole] = older._replace(fields=None)  # type: ignore[index]
                    known.whole = checkpoint_id
                known.metas[checkpoint_id] = meta
                known.metas.move_to_end(checkpoint_id)
            while len(known.metas) > _KNOWN_METAS:
                known.metas.popitem(last=False)

    def _recall(self, thread_id: str, parent_id: str | None) -> tuple[tuple[str | None, int] | None, Meta | None]:
        with self._known_lock:
            known = self._known.get(thread_id)
            if known is None:
                return None, None
            return known.tip, known.metas.get(parent_id or "")

    def _forget(self, thread_id: str) -> None:
        with self._known_lock:
            self._known.pop(thread_id, None)
            self._preloaded.pop(thread_id, None)

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
        thread_id = _checked_thread_id(checkpoint.thread_id)
        tip, parent = self._recall(thread_id, checkpoint.parent_id)
        owner = self.leases.held(thread_id)
        plan = plan_write(checkpoint, changes, tip=tip, parent=parent, limit=self.max_value_bytes)
        released = release and owner is not None
        params = {**plan.params, "owner": owner, "ttl": self.lease_seconds, "release": released}

        shape = "write" if plan.params["copy_log"] is not None else "write_append" if plan.params["bodies"] \
            else "write_fields"
        statement = self._writes.get(shape) or self._writes.setdefault(shape, wire.Statement(getattr(self.sql, shape)))
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
        self._seen(thread_id, (checkpoint.checkpoint_id, seq), {checkpoint.checkpoint_id: plan.meta(seq)})

    def _refused(self, thread_id: str, checkpoint_id: str, expected: str | None, owner: str | None) -> int:
        """Why a write matched no row: raise the error, or return the seq if it was saved after all
        (a retry after the connection died between the commit and its reply)."""

        def look(cur: Any) -> tuple[Any, ...] | None:
            cur.execute(self.sql.thread_row, (thread_id,))
            return cur.fetchone()

        row = self.db.run(look)
        if row is not None and row[0] == checkpoint_id:
            return int(row[1])
        self._forget(thread_id)
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
        with self._known_lock:
            preloaded = self._preloaded.pop(thread_id, False) if checkpoint_id is None else False
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
        self._seen(thread_id, tip, {target.checkpoint_id: meta_of(target, small(fields))})
        return loaded

    def _from_copy(self, thread_id: str, copy: _HeadCopy, schema: type[AgentState]) -> Checkpoint:
        """The head from its thread row's copy, read with the lease."""
        row = checked(copy.row, thread_id, self.schema)
        fields = dict(zip(row.names, row.values, strict=True))
        loaded = build(row, fields, copy.messages, thread_id=thread_id, schema=schema, schema_name=self.schema)
        self._seen(thread_id, (row.checkpoint_id, row.seq), {row.checkpoint_id: meta_of(row, fields, chained=False)})
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

        def read(cur: Any) -> tuple[list[tuple[Any, ...]], dict[int, list[str]]]:
            # Both reads see one snapshot: a prune committed between them would otherwise take
            # away the messages of rows already read, which then look damaged.
            cur.execute(self.sql.snapshot_reads)
            cur.execute(self.sql.list_rows, {"thread": thread_id, "limit": limit})
            rows = cur.fetchall()
            top = [split(r)[0] for r in (rows[-limit:] if limit is not None else rows)]
            wanted: dict[int, int] = {}
            for row in top:
                wanted[row.log] = max(wanted.get(row.log, 0), row.n)
            logs = {"thread": thread_id, "logs": list(wanted), "ns": list(wanted.values())}
            cur.execute(self.sql.list_messages, logs)
            return rows, dict(cur.fetchall())

        records, logs = self.db.transaction(read)
        if not records:
            self._headless(thread_id)  # no rows at all, though the thread names a head: damage
            return []
        rows = [checked(split(r)[0], thread_id, self.schema) for r in records]
        _check_head(rows[-1], records[-1][-1], thread_id, self.schema)
        top = rows[-limit:] if limit is not None else rows
        fields = _fields_by_id(rows)
        by_id = {row.checkpoint_id: row for row in rows}
        out = []
        for row in reversed(top):
            row_fields = fields.get(row.checkpoint_id)
            if row_fields is None:  # its chain is broken: say which row
                row_fields = fields_of(chain(row, by_id, thread_id, self.schema))
            messages = logs.get(row.log, [])[: row.n]
            out.append(build(row, row_fields, messages, thread_id=thread_id, schema=schema, schema_name=self.schema))
        newest = rows[-1]
        whole = small(fields.get(newest.checkpoint_id))
        self._seen(thread_id, (newest.checkpoint_id, newest.seq), {newest.checkpoint_id: meta_of(newest, whole)})
        return out

    async def athreads(self, *, status: Any = None) -> list[str]:
        """Ids of the saved threads, sorted; `status` keeps only threads whose newest checkpoint
        has that status (an `ExecutionStatus`, its value, or several of them)."""
        return await off_loop(self.threads, status)

    def threads(self, status: Any = None) -> list[str]:
        """Sync twin of `athreads`, e.g. `threads(status=ExecutionStatus.INTERRUPTED_BEFORE)`
        lists every thread paused for approval."""
        self._ensure()
        wanted = _statuses(status)

        def read(cur: Any) -> list[str]:
            if wanted is None:
                cur.execute(self.sql.threads_all)
            else:
                cur.execute(self.sql.threads_with, (wanted,))
            return [row[0] for row in cur.fetchall()]

        return self.db.run(read)

    # -- run control across processes -------------------------------------------------------

    async def _acquire(self, thread_id: str) -> None:
        await super()._acquire(thread_id)
        try:
            await off_loop(self._acquire_lease, thread_id)
        except BaseException:
            await super()._release(thread_id)
            raise

    def _acquire_lease(self, thread_id: str) -> None:
        _checked_thread_id(thread_id)
        owner = self.leases.new_token()
        params = {"thread": thread_id, "owner": owner, "name": self.leases.name, "ttl": self.lease_seconds}
        missing = (self.db.psycopg.errors.UndefinedTable, self.db.psycopg.errors.UndefinedColumn,
                   self.db.psycopg.errors.UndefinedFunction)
        try:
            record = self.db.run(lambda cur: self._acquire_row(cur, thread_id, owner, params))
        except missing:  # a database never set up, or set up by an older agentflow_nb: migrate, once
            self._ensure()
            record = self.db.run(lambda cur: self._acquire_row(cur, thread_id, owner, params))
        version, head, head_seq, taken_from, copied = record[:5]
        self.leases.add(thread_id, owner)
        try:
            if not self._ready:
                check_not_newer(int(version), self.schema)
                self._ready = True
            copy = self._head_copy(thread_id, record[5:]) if head is not None and copied else None
        except BaseException:
            self._release_lease(thread_id)
            raise
        if taken_from:
            log.warning("took over thread `%s` from `%s`, whose lease had expired", thread_id, taken_from)
        self._seen(thread_id, (head, int(head_seq)))
        if head is None or copy is not None:
            with self._known_lock:  # the run's first read finds the head here (None: a new thread)
                self._preloaded[thread_id] = copy

    def _acquire_row(self, cur: Any, thread_id: str, owner: str, params: dict[str, Any]) -> tuple[Any, ...]:
        cur.execute(self.sql.acquire, params)
        record = cur.fetchone()
        if record is None:
            cur.execute(self.sql.thread_row, (thread_id,))
            now = cur.fetchone()
            if now is not None and now[2] == owner:  # ours: a retry after a lost reply
                return (LATEST, now[0], now[1], None, False)
            raise _busy(thread_id, now)
        return tuple(record)

    def _head_copy(self, thread_id: str, columns: tuple[Any, ...]) -> _HeadCopy:
        """The head from the columns `sql.acquire` read, and its messages (a second statement,
        only when it has some)."""
        row = Row._make(columns)
        if not row.n:
            return _HeadCopy(row, "")
        params = {"thread": thread_id, "log": row.log, "n": row.n}
        text = self.db.run(lambda cur: cur.execute(self.sql.head_messages, params).fetchone()[0])
        return _HeadCopy(row, text or "")

    async def _release(self, thread_id: str) -> None:
        try:
            await off_loop(self._release_lease, thread_id)
        finally:
            await super()._release(thread_id)

    def _release_lease(self, thread_id: str) -> None:
        with self._known_lock:
            self._preloaded.pop(thread_id, None)
        owner = self.leases.drop(thread_id)
        if owner is None:
            return
        try:
            self.db.run(lambda cur: cur.execute(self.sql.release, {"thread": thread_id, "owner": owner}))
        except self.db.lost as exc:  # it expires on its own after lease_seconds
            log.warning("could not release the lease on thread `%s` (%s); it expires by itself", thread_id, exc)

    async def ais_running(self, thread_id: str) -> bool:
        """True while a run in any process holds the thread's lease."""
        return await super().ais_running(thread_id) or await off_loop(self._leased, thread_id)

    def _leased(self, thread_id: str) -> bool:
        self._ensure()

        def look(cur: Any) -> bool:
            cur.execute(self.sql.is_running, (thread_id,))
            return cur.fetchone() is not None

        return self.db.run(look)

    async def arequest_stop(self, thread_id: str) -> bool:
        """Ask the run holding the thread, in any process, to stop at its next node boundary:
        the request is written on the thread's row and announced with `NOTIFY`."""
        if await super().arequest_stop(thread_id):
            return True
        return await off_loop(self._request_stop, thread_id)

    def _request_stop(self, thread_id: str) -> bool:
        self._ensure()

        def ask(cur: Any) -> bool:
            cur.execute(self.sql.request_stop, {"thread": thread_id, "channel": self.sql.channel})
            return cur.fetchone() is not None

        return self.db.run(ask)

    async def aconsume_stop(self, thread_id: str) -> bool:
        """True once per stop request, from this process or another (no query unless one came)."""
        if await super().aconsume_stop(thread_id):
            return True
        owner = self.leases.take_stop(thread_id)
        if owner is None:
            return False
        await off_loop(self.db.run, lambda cur: cur.execute(self.sql.clear_stop, (thread_id, owner)))
        return True

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
        self._forget(thread_id)
        return removed


# -- helpers ------------------------------------------------------------------------------


def _checked_thread_id(thread_id: str) -> str:
    if "\x00" in thread_id:
        raise ValueError(f"thread id {thread_id!r} contains a NUL character, which PostgreSQL cannot store")
    return thread_id


def _busy(thread_id: str, row: tuple[Any, ...] | None) -> ThreadBusyError:
    if row is None or row[3] is None:
        return ThreadBusyError(thread_id, " in another worker")
    until = row[4].strftime("%H:%M:%S %Z").strip() if row[4] is not None else "?"
    error = ThreadBusyError(
        thread_id, f" in worker `{row[3]}` (its lease runs until {until} and is renewed while it runs)"
    )
    error.owner = row[3]  # type: ignore[attr-defined]
    return error


def _config_thread(config: Mapping[str, Any]) -> str:
    thread_id = config.get("thread_id") if isinstance(config, Mapping) else None
    if not isinstance(thread_id, str) or not thread_id:
        raise ValueError(f"prune needs config={{'thread_id': '...'}} naming a thread; got `{config!r}`")
    return thread_id


def _statuses(status: Any) -> list[str] | None:
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

