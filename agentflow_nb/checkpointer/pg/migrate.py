"""Numbered migrations, applied once each under a transaction-level advisory lock.

Several workers may start at once: each takes `pg_advisory_xact_lock` inside one transaction,
reads the schema's version, applies what is missing and records it, then commits, which frees
the lock. Nothing is held across transactions, so this also works through a transaction-mode
pooler. A database already at a newer version than this code knows is refused.
"""

from __future__ import annotations

from typing import Any

from agentflow_nb.checkpointer.pg.sql import LATEST, Statements
from agentflow_nb.errors import AgentflowError

__all__ = ["SchemaVersionError", "current_version", "migrate"]


class SchemaVersionError(AgentflowError, RuntimeError):
    """The database's schema was made by a newer agentflow_nb than this one."""


def current_version(cur: Any, sql: Statements) -> int | None:
    """The schema's version, or None when it has no version table yet (one round trip)."""
    from psycopg.errors import UndefinedTable

    try:
        cur.execute(sql.current_version)
    except UndefinedTable:
        if not cur.connection.autocommit:
            cur.connection.rollback()
        return None
    return int(cur.fetchone()[0])


def check_not_newer(version: int, schema: str) -> None:
    """Refuse a schema newer than the code."""
    if version > LATEST:
        raise SchemaVersionError(
            f"schema `{schema}` is at version {version}, but this agentflow_nb knows versions up to "
            f"{LATEST}; upgrade agentflow_nb (`pip install -U \"agentflow_nb[postgres]\"`) or point "
            "PgCheckpointer at another schema"
        )


def migrate(cur: Any, sql: Statements) -> list[int]:
    """Bring the schema up to date in the current transaction; the versions applied."""
    cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (sql.lock_key,))
    cur.execute(sql.create_schema)
    cur.execute(sql.create_versions)
    cur.execute(sql.current_version)
    version = int(cur.fetchone()[0])
    check_not_newer(version, sql.schema)
    applied = []
    for number, description, statement in sql.migrations:
        if number > version:
            cur.execute(statement)
            cur.execute(sql.record_version, (number, description))
            applied.append(number)
    return applied
