"""PgCheckpointer: the optional dependency, the pool, and numbered migrations on a real server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from agentflow_nb import Message
from agentflow_nb.checkpointer import PgCheckpointer
from agentflow_nb.checkpointer.pg import SchemaVersionError
from agentflow_nb.checkpointer.pg.sql import LATEST
from tests.conftest import build_approval_agent

ROOT = Path(__file__).resolve().parents[2]
START_INPUT = {"messages": [Message.text_message("refund 30")]}

WITHOUT_PSYCOPG = """
import sys
sys.modules["psycopg"] = None          # as if not installed
sys.modules["psycopg_pool"] = None
import agentflow_nb.checkpointer as c  # must import fine
try:
    c.PgCheckpointer("postgresql://nobody@127.0.0.1:9/x")
except ImportError as exc:
    print(exc)
"""


def test_the_package_imports_without_psycopg_and_the_store_says_what_to_install():
    done = subprocess.run([sys.executable, "-c", WITHOUT_PSYCOPG], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert 'pip install "agentflow_nb[postgres]"' in done.stdout


def versions(dsn: str, schema: str) -> list[int]:
    with psycopg.connect(dsn) as conn:
        return [v for (v,) in conn.execute(f'SELECT version FROM "{schema}".schema_versions ORDER BY version')]


def test_migrations_apply_once_and_a_second_setup_changes_nothing(make_pg, pg_dsn):
    saver = make_pg()
    assert saver.setup() == list(range(1, LATEST + 1))
    assert saver.setup() == []
    assert versions(pg_dsn, saver.schema) == list(range(1, LATEST + 1))


def test_first_use_migrates_by_itself(make_pg):
    app = build_approval_agent(make_pg())
    assert app.invoke(START_INPUT, config={"thread_id": "t"})["interrupted"]


def test_four_processes_migrating_at_once_apply_each_migration_once(pg_dsn, pg_schemas, tmp_path):
    schema, go = pg_schemas(), tmp_path / "go"
    children = [
        subprocess.Popen([sys.executable, "-m", "tests.checkpointer.pg_workers", "setup", pg_dsn, schema, str(go)],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    try:
        go.touch()  # all four are waiting on this file, so they start together
        outcomes = [child.communicate(timeout=120) for child in children]
    finally:
        for child in children:
            child.kill()
            child.wait()
    assert [child.returncode for child in children] == [0] * 4, [err for _, err in outcomes]
    applied = sorted(out.strip().splitlines()[-1] for out, _ in outcomes)
    assert applied.count('{"applied": []}') == 3  # exactly one process did the work
    assert versions(pg_dsn, schema) == list(range(1, LATEST + 1))


def test_a_schema_newer_than_the_code_is_refused(make_pg, pg_dsn):
    first = make_pg()
    first.setup()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'INSERT INTO "{first.schema}".schema_versions VALUES ({LATEST + 1}, %s)', ("from the future",))
    later = make_pg(first.schema)
    with pytest.raises(SchemaVersionError, match=rf"at version {LATEST + 1}.*upgrade agentflow_nb"):
        later.threads()
    with pytest.raises(SchemaVersionError):
        later.setup()


def test_a_pool_passed_in_stays_open_after_close(pg_dsn, pg_schemas):
    with ConnectionPool(pg_dsn, min_size=1, max_size=2, open=True, kwargs={"autocommit": False}) as pool:
        saver = PgCheckpointer(pool, schema=pg_schemas())
        app = build_approval_agent(saver)
        app.invoke(START_INPUT, config={"thread_id": "t"})  # works on a non-autocommit pool too
        saver.close()
        with pool.connection() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    assert PgCheckpointer(pool, schema="x") is not None  # constructing does not touch the server


def test_wrong_targets_and_names_get_clear_errors():
    with pytest.raises(TypeError, match="DSN string"):
        PgCheckpointer(42)
    with pytest.raises(ValueError, match="plain name"):
        PgCheckpointer("postgresql://nobody@127.0.0.1:9/x", schema='x"; DROP TABLE y; --')
    with pytest.raises(ValueError, match="lease_seconds"):
        PgCheckpointer("postgresql://nobody@127.0.0.1:9/x", lease_seconds=0)


@pytest.mark.parametrize("prepare", [False, True])
def test_for_a_transaction_pooler_no_session_state_outlives_a_statement(make_pg, prepare):
    saver = make_pg(prepare=prepare, listen=False, max_connections=1)
    app = build_approval_agent(saver)
    for i in range(8):  # psycopg prepares a statement from its fifth use on
        app.invoke(START_INPUT, config={"thread_id": f"t{i}"})
    with saver.db.pool.connection() as conn:  # the one connection every statement used
        prepared = conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0]
        advisory = conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone()[0]
    assert (prepared > 0) is prepare and advisory == 0
