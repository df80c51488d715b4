"""Run control of `PgCheckpointer` across processes: the lease a run holds on its thread, and
stop requests. Taking the lease also reads the thread's head, from the copy its row keeps
(`sql.acquire`), so a resuming run starts after one statement on one table; its last write
ends the lease (`aput_last`), so it needs no statement to let go either.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import cached_property
from typing import Any

from agentflow_nb._sync import off_loop
from agentflow_nb.checkpointer.base import BaseCheckpointer
from agentflow_nb.checkpointer.pg import wire
from agentflow_nb.checkpointer.pg.db import Database
from agentflow_nb.checkpointer.pg.known import HeadCopy, KnownThreads
from agentflow_nb.checkpointer.pg.leases import Leases
from agentflow_nb.checkpointer.pg.migrate import check_not_newer
from agentflow_nb.checkpointer.pg.rows import Row
from agentflow_nb.checkpointer.pg.sql import LATEST, Statements, quote_schema
from agentflow_nb.errors import ThreadBusyError

__all__ = ["RunControl", "checked_thread_id", "numbered"]

log = logging.getLogger("agentflow_nb")


class RunControl(BaseCheckpointer):
    """The run-control half of `PgCheckpointer` (which sets up the attributes below)."""

    db: Database
    sql: Statements
    leases: Leases
    known: KnownThreads
    schema: str
    lease_seconds: float
    _ready: bool
    #: A step's write in each of its three shapes (`write_fields`, `write_append`, `write`),
    #: numbered for libpq (`numbered`).
    _writes: dict[str, wire.Statement]
    #: Applies the migrations on first use (`PgCheckpointer._ensure`).
    _ensure: Callable[[], None]

    @cached_property
    def _acquire_statement(self) -> wire.Statement:
        return numbered("acquire", self.schema)

    async def _acquire(self, thread_id: str) -> None:
        await super()._acquire(thread_id)
        try:
            await off_loop(self._acquire_lease, thread_id)
        except BaseException:
            await super()._release(thread_id)
            raise

    def _acquire_lease(self, thread_id: str) -> None:
        checked_thread_id(thread_id)
        owner = self.leases.new_token()
        params = {"thread": thread_id, "owner": owner, "name": self.leases.name, "ttl": self.lease_seconds}
        missing = (self.db.psycopg.errors.UndefinedTable, self.db.psycopg.errors.UndefinedColumn,
                   self.db.psycopg.errors.UndefinedFunction)
        self.leases.start()  # its thread starts while the connection or the statement is waited for
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
        if copy is not None and copy.row.n and self._prepares_ahead():
            # As in `_acquire_row`, once the head's messages are read: a conversation's next step
            # appends some.
            statement = self._writes["write_append"]
            self.db.run(lambda cur: wire.prepare_ahead(cur.connection, statement))
        if taken_from:
            log.warning("took over thread `%s` from `%s`, whose lease had expired", thread_id, taken_from)
        self.known.seen(thread_id, (head, int(head_seq)))
        if head is None or copy is not None:
            self.known.preload(thread_id, copy)  # the run's first read finds the head there

    def _acquire_row(self, cur: Any, thread_id: str, owner: str, params: dict[str, Any]) -> tuple[Any, ...]:
        conn = cur.connection
        prepare = self.db.prepare if self.db.owned else conn.prepare_threshold is not None
        rows = wire.execute(conn, self._acquire_statement, params, prepare=prepare)
        if not rows:
            cur.execute(self.sql.thread_row, (thread_id,))
            now = cur.fetchone()
            if now is not None and now[2] == owner:  # ours: a retry after a lost reply
                return (LATEST, now[0], now[1], None, False)
            raise _busy(thread_id, now)
        if rows[0][4] == b"t" and rows[0][18] == b"0" and self._prepares_ahead():
            # The head is in the row and has no messages: the run's next statement is its first
            # write, of a step that adds none. Sent now, before anything else is done with the
            # row, the server prepares it while the run loads the head and runs its node.
            wire.prepare_ahead(conn, self._writes["write_fields"])
        record = [None if value is None else value.decode() for value in rows[0]]
        return (int(record[0]), record[1], int(record[2]), record[3], record[4] == "t", *record[5:])

    def _prepares_ahead(self) -> bool:
        """Whether the run's first write is prepared ahead (`wire.prepare_ahead`): on our own pool,
        unless preparing is off."""
        return self.db.owned and self.db.prepare

    def _head_copy(self, thread_id: str, texts: tuple[Any, ...]) -> HeadCopy:
        """The head from the columns `sql.acquire` read (as text), and its messages (a second
        statement, only when it has some)."""
        (seq, checkpoint_id, parent_id, step, node, status, source, at, _, base, snap_bytes, chain_bytes, log_id, n,
         names, values) = texts
        row = Row(int(seq), checkpoint_id, parent_id, int(step), node, status, source, float(at), False, int(base),
                  int(snap_bytes), int(chain_bytes), int(log_id), int(n), json.loads(names), json.loads(values), [])
        if not row.n:
            return HeadCopy(row, "")
        params = {"thread": thread_id, "log": row.log, "n": row.n}
        text = self.db.run(lambda cur: cur.execute(self.sql.head_messages, params).fetchone()[0])
        return HeadCopy(row, text or "")

    async def _release(self, thread_id: str) -> None:
        try:
            await off_loop(self._release_lease, thread_id)
        finally:
            await super()._release(thread_id)

    def _release_lease(self, thread_id: str) -> None:
        self.known.take_preloaded(thread_id)  # unread if the run failed before its first read
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


_STAND_IN = "__schema__"
#: The statements run through `wire`, numbered once, at import, for a stand-in schema: a store
#: takes them with its own schema's name (`numbered`), which spares a short-lived process the
#: numbering (0.1 ms).
_NUMBERED = {name: wire.Statement(getattr(Statements(_STAND_IN), name))
             for name in ("acquire", "write_fields", "write_append", "write")}


def numbered(name: str, schema: str) -> wire.Statement:
    """The statement `Statements.<name>` for `schema` (a plain name), numbered for `wire`."""
    return _NUMBERED[name].renamed(quote_schema(_STAND_IN), quote_schema(schema))


def checked_thread_id(thread_id: str) -> str:
    """`thread_id`, if PostgreSQL can store it."""
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
