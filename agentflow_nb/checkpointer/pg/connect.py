"""A connection started when the store is made, and finished when the first statement needs it.

Most of what a new connection to PostgreSQL costs is the server's: it starts a process for the
connection, then sets up the session. The first of the two needs nothing from the client once
the connection was started, so `Primed.start` starts one without waiting (libpq's non-blocking
connect) and `Primed.finish` completes it later: a short-lived process (a script resuming one
thread) has its graph built and its run begun meanwhile, and makes the connection's Python
objects while the server sets up the session. No thread is involved: a Python thread would have
to wait for the interpreter's lock at every step, which the caller holds, and psycopg's blocking
connect (`PGconn.connect`) keeps that lock throughout.

Only a server given by address (an IP address, `localhost` or a socket directory) is started
early: a host name would be looked up, which may block, and making a store must not.
"""

from __future__ import annotations

import os
import re
import select
import time
from typing import Any
from urllib.parse import unquote

__all__ = ["Primed"]

_OK, _READING, _WRITING, _FAILED = 3, 1, 2, 0  # libpq's PostgresPollingStatusType
_BAD, _AWAITING_RESPONSE = 1, 4  # libpq's ConnStatusType
#: A URI with no query string (which may name hosts too): its hosts, each with an optional port.
_URI_HOSTS = re.compile(r"postgres(?:ql)?://(?:[^@/?#]*@)?([^/?#]*)(?:/[^?#]*)?")
_URI_PORT = re.compile(r":\d*$")


class Primed:
    """A connection to `conninfo` that was started and is not finished yet."""

    def __init__(self, pgconn: Any, state: int) -> None:
        self.pgconn = pgconn
        self.state = state  # the last poll's answer: what the connection waits for

    @classmethod
    def start(cls, psycopg: Any, conninfo: str, kwargs: dict[str, Any]) -> Primed | None:
        """Start connecting, without blocking; None when this server is not one to start early,
        or starting failed (the first statement then connects as usual, and reports why)."""
        if set(kwargs) - {"autocommit", "prepare_threshold"} or not _by_address(psycopg, conninfo):
            return None
        try:
            pgconn = psycopg.pq.PGconn.connect_start(conninfo.encode())
            if pgconn.status == _BAD:
                pgconn.finish()
                return None
            # The socket connects at once on a local server; libpq sends its SSL request (or
            # the startup packet) at the next poll, in `finish`: sending it now changed nothing
            # measurable, since a new backend answers only 1.3-1.7 ms after the connect.
            state = pgconn.connect_poll()
        except Exception:  # a bad DSN: the usual connect reports it
            return None
        if state == _FAILED:
            pgconn.finish()
            return None
        return cls(pgconn, state)

    def finish(self, psycopg: Any, kwargs: dict[str, Any], timeout: float) -> Any:
        """A cursor on the connection, a psycopg `Connection` set up as `kwargs` say, or None
        when it failed or took longer than `timeout` seconds (the caller then connects as usual)."""
        pgconn, state = self.pgconn, self.state
        deadline = time.monotonic() + timeout
        cur = None
        try:
            while state != _OK:
                if cur is None and pgconn.status == _AWAITING_RESPONSE:
                    # The startup packet is sent and the server sets up the session: make the
                    # connection's Python objects meanwhile (they ask the server nothing).
                    cur = psycopg.Cursor(psycopg.Connection(pgconn))
                if state == _FAILED or not _wait(pgconn.socket, state == _WRITING, deadline):
                    pgconn.finish()
                    return None
                state = pgconn.connect_poll()
            pgconn.nonblocking = 1  # as psycopg's own connect leaves it
            if cur is None:
                cur = psycopg.Connection(pgconn).cursor()
            cur.connection.autocommit = bool(kwargs.get("autocommit", False))
            cur.connection.prepare_threshold = kwargs.get("prepare_threshold", 5)
            return cur
        except BaseException:
            pgconn.finish()
            raise

    def discard(self) -> None:
        """Close the connection, unfinished."""
        self.pgconn.finish()


def _wait(sock: int, write: bool, deadline: float) -> bool:
    """Wait until `sock` is ready (Ctrl-C interrupts the wait); False past `deadline`."""
    left = deadline - time.monotonic()
    if left <= 0:
        return False
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLOUT if write else select.POLLIN)
        return bool(poller.poll(left * 1000))
    ready = select.select([], [sock], [], left) if write else select.select([sock], [], [], left)
    return any(ready)


def _by_address(psycopg: Any, conninfo: str) -> bool:
    """Whether every host of `conninfo` is an address or a socket directory: no name lookup."""
    if os.environ.get("PGHOSTADDR"):
        return True
    found = _URI_HOSTS.fullmatch(conninfo)
    if found is not None:  # the usual URI, read here: psycopg's parser costs a short script 0.1-0.2 ms
        given = [_URI_PORT.sub("", host).strip("[]") for host in found.group(1).split(",")]
        hosts = [unquote(host) for host in given] if any(given) else [os.environ.get("PGHOST") or ""]
    else:
        from psycopg.conninfo import conninfo_to_dict

        try:
            params = conninfo_to_dict(conninfo)
        except psycopg.ProgrammingError:
            return False
        if params.get("hostaddr"):
            return True
        hosts = [str(params.get("host") or os.environ.get("PGHOST") or "")]
    hosts = [host for text in hosts for host in text.split(",")]
    return all(not host or host == "localhost" or host.startswith(("/", "@")) or _is_ip(host) for host in hosts)


def _is_ip(text: str) -> bool:
    from ipaddress import ip_address

    try:
        ip_address(text)
    except ValueError:
        return False
    return True
