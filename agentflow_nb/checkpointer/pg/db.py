"""Connections for `PgCheckpointer`: psycopg imported lazily, a pool, retries over lost connections.

A pool the caller passes in is psycopg-pool's thread-safe, loop-free `ConnectionPool`. Given a
DSN we keep a small pool of our own (`LocalPool`) that opens connections on demand in the
calling thread and runs no background threads, so a short-lived process (a script resuming
one thread) pays for one connection and nothing else; and it starts that first connection
when it is made (see `connect`), so that the server sets it up while the caller goes on. Either way one store serves a script,
several threads of a web server, the notebook's background loop and the user's own loop.
A statement that fails because the connection was lost (the server restarted, a pooler
dropped it) is retried on a fresh connection until `retry_seconds` have passed.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from agentflow_nb.checkpointer.pg import wire
from agentflow_nb.checkpointer.pg.connect import Primed

__all__ = ["Database", "LocalPool", "import_psycopg"]

log = logging.getLogger("agentflow_nb")
T = TypeVar("T")
_IDLE = 0  # libpq's PQTRANS_IDLE: no transaction open on the connection
INSTALL_HINT = (
    'PgCheckpointer needs psycopg 3 and psycopg-pool; install them with `pip install "agentflow_nb[postgres]"`'
)


def import_psycopg() -> tuple[Any, Any]:
    """The `psycopg` and `psycopg_pool` modules, or an `ImportError` that says what to install."""
    try:
        import psycopg
        import psycopg_pool
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return psycopg, psycopg_pool


class LocalPool:
    """At most `max_size` connections to `conninfo`, opened when needed by the thread that needs
    one, reused while healthy. Thread-safe; no background threads.

    Each connection keeps one cursor, reused by every statement run on it (`take` / `give`):
    a step's write is one short statement, so what is around it must cost little.
    """

    def __init__(self, psycopg: Any, conninfo: str, *, max_size: int, kwargs: dict[str, Any], timeout: float) -> None:
        self.psycopg = psycopg
        self.conninfo = conninfo
        self.kwargs = kwargs
        self.timeout = timeout
        self.max_size = max_size
        self._idle: list[Any] = []  # cursors of idle connections
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)
        self._closed = False
        self._primed = Primed.start(psycopg, conninfo, kwargs)  # counted in `_size` until taken
        self._size = int(self._primed is not None)  # connections open or being opened

    def take(self) -> Any:
        """A cursor on an idle connection, or on a new one while there are fewer than `max_size`."""
        cur = primed = None
        with self._lock:
            if self._idle:
                cur = self._idle.pop()
            else:
                primed, self._primed = self._primed, None
                deadline = None
                while primed is None and self._size >= self.max_size:
                    deadline = deadline or time.monotonic() + self.timeout
                    left = deadline - time.monotonic()
                    if left <= 0 or not self._freed.wait(left):
                        raise self.psycopg.OperationalError(
                            f"no free connection in {self.timeout:.0f} s (pool exhausted)")
                    if self._idle:
                        cur = self._idle.pop()
                        break
                if cur is None and primed is None:
                    self._size += 1
        if cur is not None:
            return self._settled(cur)
        try:
            cur = primed.finish(self.psycopg, self.kwargs, self.timeout) if primed is not None else None
            return cur or self.psycopg.connect(self.conninfo, **self.kwargs).cursor()
        except BaseException:
            self._forget()
            raise

    def _settled(self, cur: Any) -> Any:
        """`cur`, once its connection has no answer left to read (`wire.prepare_ahead`)."""
        try:
            wire.settle(cur.connection)
        except BaseException:
            self._forget()  # `wire` closed the connection
            raise
        return cur

    def give(self, cur: Any) -> None:
        """Take back a cursor from `take`; a broken connection is closed and its place freed.
        A connection preparing a statement (`wire.prepare_ahead`) is kept busy as it is."""
        conn = cur.connection
        if not conn.closed and not wire.pending(conn) and conn.pgconn.transaction_status != _IDLE:
            try:
                conn.rollback()  # an error left a transaction open
            except self.psycopg.Error:
                conn.close()
        if not conn.closed and not conn.broken:
            with self._lock:
                if not self._closed:
                    self._idle.append(cur)
                    self._freed.notify()
                    return
        conn.close()
        self._forget()

    def _forget(self) -> None:
        with self._lock:
            self._size -= 1
            self._freed.notify()

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A connection for the body (as `psycopg_pool.ConnectionPool.connection` gives one)."""
        cur = self.take()
        try:
            yield cur.connection
        finally:
            self.give(cur)

    def close(self) -> None:
        """Close every idle connection; connections in use close when given back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            primed, self._primed = self._primed, None
            self._size -= len(idle) + int(primed is not None)
        for cur in idle:
            cur.connection.close()
        if primed is not None:
            primed.discard()


class Database:
    """A pool (ours or the caller's) and a way to run a function on one of its connections.

    Args:
        target: a DSN (we open and close our own pool) or a `psycopg_pool.ConnectionPool`
            (the caller's: never closed by us).
        prepare: prepare frequent statements on the server (faster). Turn it off behind a
            transaction-mode pooler that cannot keep prepared statements. (A pool of yours
            decides by itself: a `prepare_threshold` of None turns it off.)
        max_connections: size of our own pool.
        retry_seconds: how long to keep retrying a statement whose connection was lost.
    """

    def __init__(self, target: Any, *, prepare: bool, max_connections: int, retry_seconds: float) -> None:
        self.psycopg, pool_module = import_psycopg()
        from psycopg.rows import tuple_row

        self._tuple_row = tuple_row
        self.retry_seconds = retry_seconds
        self.prepare = prepare
        if isinstance(target, str):
            kwargs: dict[str, Any] = {"autocommit": True}
            if not prepare:
                kwargs["prepare_threshold"] = None
            self.pool: Any = LocalPool(self.psycopg, target, max_size=max_connections, kwargs=kwargs,
                                       timeout=max(30.0, retry_seconds))
            self.owned = True
        elif isinstance(target, pool_module.ConnectionPool):
            self.pool, self.owned = target, False
        else:
            raise TypeError(
                f"PgCheckpointer needs a DSN string such as `postgresql://user@host/db` or a "
                f"`psycopg_pool.ConnectionPool`, got a `{type(target).__name__}` (an async pool is "
                "not supported: the store must work from any thread and any event loop)"
            )
        self.lost = (self.psycopg.OperationalError, self.psycopg.InterfaceError, pool_module.PoolTimeout)

    @property
    def conninfo(self) -> str:
        """The pool's connection string (used by the stop listener's own connection)."""
        return str(self.pool.conninfo)

    @property
    def connect_kwargs(self) -> dict[str, Any]:
        """The pool's connection keyword arguments."""
        return dict(self.pool.kwargs or {})

    def run(self, work: Callable[[Any], T], *, retry: bool = True) -> T:
        """`work(cursor)` on a pooled connection, committed; retried while connections are lost."""
        deadline = None
        pause = 0.05
        while True:
            try:
                return self._once(work)
            except self.lost as exc:
                deadline = deadline or time.monotonic() + self.retry_seconds
                if not retry or time.monotonic() + pause > deadline:
                    raise
                log.warning("PostgreSQL connection lost (%s); retrying", str(exc).strip() or type(exc).__name__)
                time.sleep(pause * random.uniform(0.5, 1.5))
                pause = min(pause * 2, 1.0)

    def _once(self, work: Callable[[Any], T]) -> T:
        if self.owned:  # our connections are in autocommit mode: nothing to commit
            cur = self.pool.take()
            try:
                return work(cur)
            finally:
                self.pool.give(cur)
        with self.pool.connection() as conn:
            with conn.cursor(row_factory=self._tuple_row) as cur:
                result = work(cur)
            if not conn.autocommit:
                conn.commit()
            return result

    def write(self, statement: wire.Statement, values: Mapping[str, Any]) -> list[list[bytes | None]]:
        """Run a hot write through libpq directly (see `wire`); its rows as text values.
        Prepared on the server unless `prepare` is off or the caller's pool turned preparing off."""

        def run(cur: Any) -> list[list[bytes | None]]:
            conn = cur.connection
            prepare = self.prepare if self.owned else conn.prepare_threshold is not None
            return wire.execute(conn, statement, values, prepare=prepare)

        return self.run(run)

    def transaction(self, work: Callable[[Any], T]) -> T:
        """`work(cursor)` inside one transaction (several statements, all or nothing)."""

        def in_transaction(cur: Any) -> T:
            with cur.connection.transaction():
                return work(cur)

        return self.run(in_transaction)

    def close(self) -> None:
        """Close the pool if it is ours."""
        if self.owned:
            self.pool.close()
