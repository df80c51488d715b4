"""The fault test: 4 worker processes, 200 threads of a 10-node approval graph, on a real server.

While they work, the test plays the human (approves every paused thread), stops random running
threads, SIGKILLs random workers and starts new ones, and restarts PostgreSQL once (`pg_ctl
restart`). At the end every thread is complete; the ledger (the side effects, outside the
database) has every node of every thread, and a node ran twice only when it was in flight in a
worker that was killed. It uses its own throwaway server, since it restarts it.
"""

from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from agentflow_nb import ExecutionStatus, PgCheckpointer, ThreadBusyError
from agentflow_nb.checkpointer.pg import LocalCluster
from tests.checkpointer.pg_fault import WORK, build, thread_ids

ROOT = Path(__file__).resolve().parents[2]
THREADS = 200
WORKERS = 4
KILLS = 6
DEADLINE = 600.0


@pytest.fixture
def cluster():
    server = LocalCluster(durable=False)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Crew:
    """The worker processes, started and killed on demand, all reaped at the end."""

    def __init__(self, dsn: str, schema: str, ledger: Path) -> None:
        self.args = [sys.executable, "-m", "tests.checkpointer.pg_fault", dsn, schema, str(ledger), str(THREADS)]
        self.live: list[subprocess.Popen] = []
        self.killed: set[int] = set()
        self.everyone: list[subprocess.Popen] = []

    def start(self) -> None:
        proc = subprocess.Popen(self.args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.live.append(proc)
        self.everyone.append(proc)

    def kill_one(self, rng: random.Random) -> None:
        victim = rng.choice(self.live)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        self.live.remove(victim)
        self.killed.add(victim.pid)

    def crashed(self) -> list[str]:
        return [p.stderr.read() for p in self.live if p.poll() not in (None, 0)]  # type: ignore[union-attr]

    def reap(self) -> None:
        for proc in self.everyone:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


def test_workers_killed_stopped_and_a_server_restart_lose_nothing_and_repeat_only_in_flight_nodes(
    cluster, tmp_path
):
    dsn, schema = cluster.dsn, "fault"
    saver = PgCheckpointer(dsn, schema=schema, owner_name="the human")
    saver.setup()
    app = build(saver)
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    crew = Crew(dsn, schema, ledger)
    rng = random.Random(20261126)
    counts = collections.Counter()
    try:
        for _ in range(WORKERS):
            crew.start()
        deadline = time.monotonic() + DEADLINE
        restarted = False
        while time.monotonic() < deadline:
            assert not crew.crashed(), crew.crashed()
            completed = len(saver.threads(status=ExecutionStatus.COMPLETED))
            if completed == THREADS:
                break
            for thread in saver.threads(status=ExecutionStatus.INTERRUPTED_BEFORE):  # the human approves
                try:
                    if not app.get_state({"thread_id": thread}).state.approved:
                        app.update_state({"thread_id": thread}, {"approved": True})
                        counts["approvals"] += 1
                except ThreadBusyError:
                    pass
            running = saver.threads(status=ExecutionStatus.RUNNING)
            for thread in rng.sample(running, min(2, len(running))):
                counts["stop requests"] += app.stop({"thread_id": thread})["ok"]
            if counts["kills"] < KILLS and completed >= (counts["kills"] + 1) * THREADS // (KILLS + 2):
                crew.kill_one(rng)
                counts["kills"] += 1
                crew.start()
            if not restarted and completed >= THREADS * 2 // 5:
                cluster.restart()
                restarted = True
                counts["server restarts"] += 1
            time.sleep(0.2)
        for proc in crew.live:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0 and "all complete" in out, err
    finally:
        crew.reap()

    # every thread complete, each work node applied exactly once to its state, in order
    for thread in thread_ids(THREADS):
        final = app.get_state({"thread_id": thread})
        assert final.status is ExecutionStatus.COMPLETED and final.state.approved, thread
        assert final.state.done == WORK, (thread, final.state.done)

    # the ledger: nothing lost; a repeat only for the node in flight in a killed worker
    entries: list[tuple[str, str, int]] = []
    last_of: dict[int, tuple[str, str]] = {}
    for path in ledger.glob("ledger-*.log"):
        lines = [line.split() for line in path.read_text().splitlines()]
        entries += [(t, n, int(p)) for t, n, p in lines]
        if lines:
            last_of[int(lines[-1][2])] = (lines[-1][0], lines[-1][1])
    runs = collections.Counter((t, n) for t, n, _ in entries)
    assert set(runs) == {(t, n) for t in thread_ids(THREADS) for n in WORK}  # nothing lost
    repeated = {key: count for key, count in runs.items() if count > 1}
    in_flight = {last_of[pid] for pid in crew.killed if pid in last_of}
    assert set(repeated) <= in_flight and all(count == 2 for count in repeated.values()), (repeated, in_flight)
    with psycopg.connect(dsn) as conn:
        stopped = conn.execute(f"SELECT count(*) FROM {schema}.checkpoints WHERE status = 'stopped'").fetchone()[0]
    counts.update({"node runs": len(entries), "repeated in-flight nodes": len(repeated), "stops taken": stopped,
                   "workers started": len(crew.everyone)})
    print(f"\nfault test: {dict(counts)}")
    assert counts["kills"] == KILLS and counts["server restarts"] == 1 and stopped > 0
    assert counts["approvals"] == THREADS
    saver.close()
