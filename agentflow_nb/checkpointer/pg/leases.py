"""Run leases and stop requests of `PgCheckpointer`, across processes and machines.

A run holds its thread through a lease on the thread's row: a unique owner token, a readable
owner name and an expiry. While a process holds leases, one daemon thread renews them every
third of the lease time and listens (`LISTEN`) for stop requests addressed to its owner tokens.
A stop request also reaches the runner without the listener: every checkpoint write returns the
row's `stop_requested` flag, and so does every renewal, so a runner behind a transaction-mode
pooler (where `LISTEN` cannot work) still stops at its next node boundary.
"""

from __future__ import annotations

import _thread
import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

from agentflow_nb.checkpointer.pg.db import Database
from agentflow_nb.checkpointer.pg.sql import Statements

__all__ = ["Leases", "default_owner_name"]

log = logging.getLogger("agentflow_nb")
_SLICE = 0.25  # seconds the listener waits for notifications between looks at `close()`
_QUIET = 1.0  # seconds after the first lease before the thread starts listening and renewing


def default_owner_name() -> str:
    """`host pid N`: who holds a lease, as an error message shows it."""
    return f"{socket.gethostname()} pid {os.getpid()}"


class Leases:
    """The leases this store holds, their renewal, and the stop requests that reached them."""

    def __init__(self, db: Database, sql: Statements, *, seconds: float, name: str, listen: bool) -> None:
        self.db, self.sql = db, sql
        self.seconds = seconds
        self.name = name
        self.listen = listen
        self._lock = threading.Lock()
        self._owners: dict[str, str] = {}  # thread id -> owner token of our lease
        self._stops: set[str] = set()  # owner tokens whose run was asked to stop
        self._closed = threading.Event()
        self._started = False
        self._served = threading.Event()  # set when the renewal thread has ended
        self._ident: int | None = None
        self._listener: Any = None

    # -- what we hold ---------------------------------------------------------------------

    def new_token(self) -> str:
        """A fresh owner token for one lease."""
        return uuid.uuid4().hex

    def held(self, thread_id: str) -> str | None:
        """Our owner token for `thread_id`, if we hold its lease."""
        with self._lock:
            return self._owners.get(thread_id)

    def add(self, thread_id: str, owner: str) -> None:
        """Record a lease just acquired, and make sure it will be renewed."""
        with self._lock:
            self._owners[thread_id] = owner
            self._stops.discard(owner)
        self.start()

    def drop(self, thread_id: str) -> str | None:
        """Forget our lease on `thread_id`; its owner token."""
        with self._lock:
            owner = self._owners.pop(thread_id, None)
            if owner is not None:
                self._stops.discard(owner)
            return owner

    # -- stop requests --------------------------------------------------------------------

    def flag(self, owner: str) -> None:
        """A stop request reached the run holding `owner` (from a write, a renewal or NOTIFY)."""
        with self._lock:
            if owner in self._owners.values():
                self._stops.add(owner)

    def take_stop(self, thread_id: str) -> str | None:
        """The owner token, once, if a stop request reached our run of `thread_id`."""
        with self._lock:
            owner = self._owners.get(thread_id)
            if owner is None or owner not in self._stops:
                return None
            self._stops.discard(owner)
            return owner

    # -- the renewal and listener thread ---------------------------------------------------

    def start(self) -> None:
        """Start the renewal thread, once."""
        with self._lock:
            if self._started or self._closed.is_set():
                return
            self._started = True
        # `_thread` rather than `threading.Thread`: this returns at once, where `Thread.start`
        # waits until the new thread runs, a wait that a short run pays in full on a busy machine.
        _thread.start_new_thread(self._run, ())

    def _run(self) -> None:
        self._ident = threading.get_ident()
        try:
            self._serve()
        finally:
            self._served.set()

    def _serve(self) -> None:
        interval = self.seconds / 3
        # Short runs end before this: they need no listener connection, since every checkpoint
        # write also reports a stop request.
        self._closed.wait(min(interval, _QUIET))
        while not self._closed.is_set():
            try:
                self._wait(interval)
                self.renew()
            except Exception as exc:  # the server may be restarting: keep going
                log.warning("renewing PostgreSQL leases failed (%s); retrying", exc)
                self._drop_listener()
                self._closed.wait(min(interval, 1.0))
        self._drop_listener()

    def _wait(self, interval: float) -> None:
        """Wait `interval` seconds, handling stop notifications meanwhile when listening."""
        conn = self._listen_connection()
        if conn is None:
            self._closed.wait(interval)
            return
        deadline = time.monotonic() + interval
        while not self._closed.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            # short slices, so that close() is noticed quickly
            for note in conn.notifies(timeout=min(left, _SLICE)):
                self.flag(note.payload)

    def _listen_connection(self) -> Any:
        if not self.listen or self._closed.is_set():
            return None
        if self._listener is None or self._listener.closed:
            psycopg = self.db.psycopg
            kwargs = {**self.db.connect_kwargs, "autocommit": True}
            conn = psycopg.connect(self.db.conninfo, **kwargs)
            conn.execute(psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(self.sql.channel)))
            self._listener = conn
        return self._listener

    def _drop_listener(self) -> None:
        conn, self._listener = self._listener, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # already broken
                pass

    def renew(self) -> None:
        """Push back the expiry of every lease we hold; note stop requests on the way."""
        with self._lock:
            threads, owners = list(self._owners), list(self._owners.values())
        if not threads:
            return

        def renew(cur: Any) -> list[tuple[str, bool]]:
            cur.execute(self.sql.renew, {"ttl": self.seconds, "threads": threads, "owners": owners})
            return cur.fetchall()

        for owner, stop in self.db.run(renew, retry=False):
            if stop:
                self.flag(owner)

    def close(self) -> None:
        """Stop renewing (held leases then expire) and close the listener."""
        self._closed.set()
        if self._started and self._ident != threading.get_ident():
            self._served.wait(timeout=5.0)
