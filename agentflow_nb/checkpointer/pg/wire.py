"""A step's write through libpq directly: one round trip and little Python around it.

psycopg's cursor is general: it adapts each parameter by its Python type, keeps a cache of
prepared statements and builds result rows. A checkpoint write needs none of that: its
parameters are text, whole numbers, floats, booleans and NULLs, sent as text, and its result
is a row of two values. Here such a statement runs unnamed the first time on a connection, is
prepared there when it is used again, and runs with libpq's asynchronous calls (`psycopg.pq`),
waiting on the socket with `select` so that Ctrl-C still interrupts a wait on a server that
stopped answering. With `prepare` off (behind a transaction-mode pooler) it is always sent
unnamed, which lives only as long as the run. Reads stay on psycopg cursors: their rows hold
arrays, which psycopg parses in C.
"""

from __future__ import annotations

import hashlib
import re
import select
import weakref
from collections.abc import Mapping
from typing import Any

__all__ = ["Statement", "execute", "pending", "prepare_ahead", "settle"]

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_OK = (1, 2)  # libpq's PGRES_COMMAND_OK, PGRES_TUPLES_OK
_FATAL = 7  # PGRES_FATAL_ERROR
_BAD = 1  # CONNECTION_BAD
_UNDEFINED_STATEMENT = b"26000"  # the server lost a prepared statement (e.g. `DISCARD ALL` by a pool)
#: Per connection, each statement's state there: 1 run once unnamed, 2 prepared, 3 being prepared.
_uses: weakref.WeakKeyDictionary[Any, dict[bytes, int]] = weakref.WeakKeyDictionary()
#: Connections with the answer to a `prepare_ahead` still to read.
_pending: weakref.WeakSet[Any] = weakref.WeakSet()


class Statement:
    """A statement written with `%(name)s` placeholders, numbered for libpq.

    Args:
        sql: the statement; each `%(name)s` becomes `$n` (the same name, the same number).
    """

    __slots__ = ("name", "order", "sql")

    def __init__(self, sql: str) -> None:
        numbers: dict[str, str] = {}

        def number(match: re.Match[str]) -> str:
            name = match.group(1)
            found = numbers.get(name)
            if found is None:
                found = numbers[name] = f"${len(numbers) + 1}"
            return found

        text = _PLACEHOLDER.sub(number, sql)
        if "%" in text:
            raise ValueError("a statement for `wire` may hold no `%` besides `%(name)s` placeholders")
        self.sql = text.encode()
        self.order = tuple(numbers)
        self.name = _name(self.sql)

    def renamed(self, old: str, new: str) -> Statement:
        """This statement with `old` in its text replaced by `new` (one schema's name by
        another's), numbered as this one is, without reading the text again."""
        statement = Statement.__new__(Statement)
        statement.sql = self.sql.replace(old.encode(), new.encode())
        statement.order = self.order
        statement.name = _name(statement.sql)
        return statement


def _name(sql: bytes) -> bytes:
    # Named after its text: stores on other schemas that share a pool never collide.
    return b"agentflow_" + hashlib.blake2b(sql, digest_size=12).hexdigest().encode()


def execute(
    conn: Any, statement: Statement, values: Mapping[str, Any], *, prepare: bool, again: bool = True
) -> list[list[bytes | None]]:
    """Run `statement` with `values` on psycopg connection `conn` (autocommit, idle, ours for
    now); its rows as text values (None for NULL).

    Raises:
        psycopg.Error: the server refused the statement (the class its SQLSTATE maps to), or
            the connection was lost (`OperationalError`: the caller may retry on another).
        ValueError: a text value holds a NUL character, which PostgreSQL cannot store.
    """
    params = [_text(values[key], key) for key in statement.order]
    pgconn = conn.pgconn
    uses = _uses.setdefault(conn, {})
    count = uses.get(statement.name, 0)
    if not prepare or count == 0:  # a first use sends it unnamed: a short-lived process pays no extra round trip
        uses[statement.name] = 1
        pgconn.send_query_params(statement.sql, params)
        return _rows(conn, _wait(conn))
    if count == 1:  # used again on this connection: prepare it once
        pgconn.send_prepare(statement.name, statement.sql)
        _rows(conn, _wait(conn))
        uses[statement.name] = 2
    pgconn.send_query_prepared(statement.name, params)
    result = _wait(conn)
    if again and result.status == _FATAL and result.error_field(_SQLSTATE) == _UNDEFINED_STATEMENT:
        uses[statement.name] = 1  # the session was reset under us: prepare again, once
        return execute(conn, statement, values, prepare=prepare, again=False)
    return _rows(conn, result)


_SQLSTATE = ord("C")  # libpq's PG_DIAG_SQLSTATE field code


def prepare_ahead(conn: Any, statement: Statement) -> None:
    """Have the server prepare `statement` on `conn` while the caller does something else: send
    it and return; its answer is read by `settle`, which must come before any other use of
    `conn`. A process that runs a statement once then finds it parsed and its tables loaded."""
    uses = _uses.setdefault(conn, {})
    if uses.get(statement.name, 0) >= 2:
        return
    pgconn = conn.pgconn
    pgconn.send_prepare(statement.name, statement.sql)
    uses[statement.name] = 3
    _pending.add(conn)
    if pgconn.flush():  # not all sent at once (a full socket buffer): wait for it now
        settle(conn)


def pending(conn: Any) -> bool:
    """Whether `conn` has the answer to a `prepare_ahead` still to read."""
    return conn in _pending


def settle(conn: Any) -> None:
    """Read the answer to a `prepare_ahead` on `conn`, if there is one."""
    if conn not in _pending:
        return
    _pending.discard(conn)
    result = _wait(conn)
    uses = _uses.get(conn, {})
    for name, state in uses.items():
        if state == 3:  # a statement that failed to prepare is sent unnamed next, to report why
            uses[name] = 2 if result.status in _OK else 0


def _text(value: Any, key: str) -> bytes | None:
    kind = type(value)
    if kind is str:
        if "\x00" in value:  # libpq's text parameters end at a NUL: it would cut the value short
            raise ValueError(f"`{key}` {value!r} contains a NUL character, which PostgreSQL cannot store")
        return value.encode()
    if value is None:
        return None
    if kind is bool:
        return b"t" if value else b"f"
    if kind is int or kind is float:
        return repr(value).encode()
    raise TypeError(f"parameter `{key}` is a `{kind.__name__}`; expected str, int, float, bool or None")


def _wait_socket(sock: int, *, write: bool = False) -> bool:
    """Block until `sock` is readable (or, with `write`, writable); True when readable. poll
    where there is one: select cannot watch a descriptor numbered 1024 or more, which a busy
    process reaches. Either wait is interrupted by Ctrl-C."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN | (select.POLLOUT if write else 0))
        events = poller.poll()
        return any(event & (select.POLLIN | select.POLLERR | select.POLLHUP) for _, event in events)
    readable, _, _ = select.select([sock], [sock] if write else [], [])
    return bool(readable)


def _wait(conn: Any) -> Any:
    """Send what is queued and wait for the statement's last result (libpq's async protocol)."""
    pgconn = conn.pgconn
    sock = pgconn.socket
    try:
        while pgconn.flush():  # 1: more to send; the server may need us to read first
            if _wait_socket(sock, write=True):
                pgconn.consume_input()
        pgconn.consume_input()
        while pgconn.is_busy():
            _wait_socket(sock)
            pgconn.consume_input()
        result = last = pgconn.get_result()
        while last is not None:
            if last.status == _FATAL or result.status != _FATAL:
                result = last  # the first error wins; else the last result
            last = pgconn.get_result()
    except BaseException:
        conn.close()  # a statement in flight: this connection cannot be reused
        raise
    if result is None or pgconn.status == _BAD:
        conn.close()
        raise conn.OperationalError(f"the connection to PostgreSQL was lost: {_message(pgconn)}")
    return result


def _rows(conn: Any, result: Any) -> list[list[bytes | None]]:
    if result.status not in _OK:
        from psycopg.errors import error_from_result

        raise error_from_result(result, encoding=conn.info.encoding)
    return [[result.get_value(row, col) for col in range(result.nfields)] for row in range(result.ntuples)]


def _message(pgconn: Any) -> str:
    return bytes(pgconn.error_message or b"").decode("utf-8", "replace").strip() or "no reply"
