"""PgCheckpointer's direct libpq path (`wire`): work done while the server runs a statement, and
what taking a lease does meanwhile."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from agentflow_nb import ThreadBusyError
from agentflow_nb.checkpointer.pg import wire
from tests.checkpointer.test_pg_runs import wait_for

LOCK_KEY = 7_311_002  # an advisory lock key no other test takes


def test_meanwhile_runs_after_the_statement_reached_the_server(pg_dsn):
    """The statement waits on a lock the test holds; `meanwhile` sees it waiting there, then lets
    it go: had the statement not been sent before `meanwhile`, this would never end."""
    with psycopg.connect(pg_dsn, autocommit=True) as holder, psycopg.connect(pg_dsn, autocommit=True) as conn:
        holder.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        pid = conn.info.backend_pid
        seen: list[str] = []

        def meanwhile() -> None:
            waiting = "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s"
            seen.append(wait_for(lambda: holder.execute(waiting, (pid,)).fetchone()[0] == "Lock" and "Lock",
                                 "the statement to wait on the lock"))
            holder.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))

        statement = wire.Statement("SELECT pg_advisory_xact_lock(%(key)s::bigint), %(word)s::text")
        rows = wire.execute(conn, statement, {"key": LOCK_KEY, "word": "done"}, prepare=False, meanwhile=meanwhile)
        assert seen == ["Lock"] and rows == [[b"", b"done"]]
        assert conn.execute("SELECT 1").fetchone() == (1,)  # the connection is usable after


def test_an_error_meanwhile_closes_the_connection_and_is_raised(pg_dsn):
    conn = psycopg.connect(pg_dsn, autocommit=True)
    try:

        def fail() -> None:
            raise RuntimeError("meanwhile failed")

        with pytest.raises(RuntimeError, match="meanwhile failed"):
            wire.execute(conn, wire.Statement("SELECT %(x)s::text"), {"x": "a"}, prepare=False, meanwhile=fail)
        assert conn.closed  # its statement's answer was never read: never reused
    finally:
        conn.close()


def test_a_refused_lease_starts_no_listener_and_a_later_one_renews(make_pg):
    """Taking a lease starts the renewal thread while the server answers; a store whose first
    lease is refused holds nothing, so its thread only waits, and opens no listener."""
    first = make_pg(owner_name="worker-A")
    second = make_pg(first.schema, owner_name="worker-B")

    async def scenario() -> None:
        async with first.lease("t"):
            with pytest.raises(ThreadBusyError, match="worker-A"):
                async with second.lease("t"):
                    pass
            assert second.leases._started and not second.leases._held.is_set()
            assert second.leases._listener is None
        async with second.lease("t"):
            assert second.leases._held.is_set() and second.leases.held("t") is not None
            second.leases.renew()  # the lease it now holds renews
        assert second.leases.held("t") is None

    asyncio.run(scenario())
