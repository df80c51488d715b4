"""Connections for `PgCheckpointer`: psycopg imported lazily, a pool, retries over lost connections.

A pool the caller passes in is psycopg-pool's thread-safe, loop-free `ConnectionPool`. Given a
DSN we keep a small pool of our own (`LocalPool`) that opens connections on demand in the
calling thread and runs no background threads, so a short-lived process (a script resuming
one thread) pays for one connection and nothing else. Either way one store serves a script,
several threads of a web server, the notebook's background loop and the user's own loop.
A statement that fails because the connection was lost (the server restarted, a pooler
dropped it) is retried on a fresh connection until `retry_seconds` have passed.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["Database", "LocalPool", "import_psycopg"]

log = logging.getLogger("agentflow_nb")
T = TypeVar("T")
INSTALL_HINT = 'PgCheckpointer needs psycopg 3 and psycopg-pool; install them with `pip install "agentflow_nb[postgres]"`'


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
    one, reused while healthy. Thread-safe; no background threads."""

    def __init__(self, psycopg: Any, conninfo: str, *, max_size: int, kwargs: dict[str, Any], timeout: float) -> None:
        self.psycopg = psycopg
        self.conninfo = conninfo
        self.kwargs = kwargs
        self.timeout = timeout
        self._idle: list[Any] = []
        self._slots = threading.BoundedSemaphore(max_size)
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A connection for the body; broken ones are dropped, not reused."""
        if not self._slots.acquire(timeout=self.timeout):
            raise self.psycopg.OperationalError(f"no free connection in {self.timeout:.0f} s (pool exhausted)")
        conn = None
        try:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None or conn.closed:
                conn = self.psycopg.connect(self.conninfo, **self.kwargs)
            yield conn
        finally:
            if conn is not None:
                self._put_back(conn)
            self._slots.release()

    def _put_back(self, conn: Any) -> None:
        idle = self.psycopg.pq.TransactionStatus.IDLE
        if not conn.closed and conn.info.transaction_status != idle:
            try:
                conn.rollback()  # an error left a transaction open
            except self.psycopg.Error:
                conn.close()
        with self._lock:
            if not conn.closed and not conn.broken and not self._closed:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Close every idle connection; connections in use close when given back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class Database:
    """A pool (ours or the caller's) and a way to run a function on one of its connections.

    Args:
        target: a DSN (we open and close our own pool) or a `psycopg_pool.ConnectionPool`
            (the caller's: never closed by us).
        prepare: let psycopg prepare frequent statements on the server (faster). Turn it off
            behind a transaction-mode pooler that cannot keep prepared statements.
        max_connections: size of our own pool.
        retry_seconds: how long to keep retrying a statement whose connection was lost.
    """

    def __init__(self, target: Any, *, prepare: bool, max_connections: int, retry_seconds: float) -> None:
        self.psycopg, pool_module = import_psycopg()
        from psycopg.rows import tuple_row

        self._tuple_row = tuple_row
        self.retry_seconds = retry_seconds
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
        deadline = time.monotonic() + self.retry_seconds
        pause = 0.05
        while True:
            try:
                with self.pool.connection() as conn:
                    with conn.cursor(row_factory=self._tuple_row) as cur:
                        result = work(cur)
                    if not conn.autocommit:
                        conn.commit()
                    return result
            except self.lost as exc:
                if not retry or time.monotonic() + pause > deadline:
                    raise
                log.warning("PostgreSQL connection lost (%s); retrying", str(exc).strip() or type(exc).__name__)
                time.sleep(pause * random.uniform(0.5, 1.5))
                pause = min(pause * 2, 1.0)

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
