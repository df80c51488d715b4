"""PostgreSQL: `PgCheckpointer` beside LangGraph's `PostgresSaver`, on one throwaway server, same run.

Run alone with `.venv/bin/python -m bench.pg` (prints its section; `-m bench.pg step resume`
runs only those parts, see `--help`), or as part of `make bench`.
The server is a `LocalCluster` started for the run with `fsync` and `synchronous_commit` off,
so that the numbers measure the stores rather than this machine's disk; one more row repeats
the per-step loop on a second server with PostgreSQL's default durability, where every commit
waits for the disk. Both stores use psycopg 3 with autocommit and prepared statements.
"""

from __future__ import annotations

import importlib.metadata as metadata
import itertools
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import langgraph_peer, ours, scratch  # noqa: E402
from bench.harness import steady_per_step  # noqa: E402

US = 1e6
STEPS = 60
_schemas = itertools.count()

LG_POOL_KWARGS = {"autocommit": True, "prepare_threshold": 0}


def install(dsn: str) -> list[Any]:
    """Register the "pg" kind with both frameworks; the pools and stores to close afterwards."""
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    from agentflow_nb import PgCheckpointer

    opened: list[Any] = []
    pool = ConnectionPool(dsn, min_size=1, max_size=4, open=True, kwargs={**LG_POOL_KWARGS, "row_factory": dict_row})
    opened.append(pool)
    PostgresSaver(pool).setup()

    def ours_store() -> PgCheckpointer:
        store = PgCheckpointer(dsn, schema=f"bench_{next(_schemas)}", max_connections=4)
        opened.append(store)
        return store

    ours.EXTRA["pg"] = ours_store
    langgraph_peer.EXTRA["pg"] = lambda: PostgresSaver(pool)
    return opened


def per_step(rounds: int = 7) -> dict[tuple[str, str], float]:
    """Seconds per step of the 60-step loop, per (framework, kind in none/pg), interleaved."""
    runners = {(fw.NAME, kind): fw.loop(kind, STEPS) for fw in (ours, langgraph_peer) for kind in ("none", "pg")}
    for run in runners.values():
        run()
    samples: dict[tuple[str, str], list[float]] = {key: [] for key in runners}
    for _ in range(rounds):
        for key, run in runners.items():
            for _ in range(3):
                start = time.perf_counter()
                steps = run()
                samples[key].append((time.perf_counter() - start) / steps)
    return {key: statistics.median(values) for key, values in samples.items()}


def growth(repeats: int = 3) -> dict[tuple[str, int], float]:
    """Seconds per step on a thread already holding 10 or 10,000 messages."""
    return {(fw.NAME, size): statistics.median(steady_per_step(fw.growth("pg", size, STEPS)) for _ in range(repeats))
            for fw in (ours, langgraph_peer) for size in (10, 10_000)}


RESUME = {
    ours.NAME: """
import time, sys
import psycopg, psycopg_pool  # imported before the clock, as the LangGraph script does
from agentflow_nb import PgCheckpointer
from bench.ours import resume_graph
start = time.perf_counter()
app = resume_graph(None, PgCheckpointer(DSN, schema=SCHEMA))
result = app.invoke({}, config={"thread_id": THREAD})
assert result["state"].counter == 1001, result
print(time.perf_counter() - start)
""",
    langgraph_peer.NAME: """
import time
from langgraph.checkpoint.postgres import PostgresSaver
from psycopg import Connection
from psycopg.rows import dict_row
from bench.langgraph_peer import resume_graph
start = time.perf_counter()
conn = Connection.connect(DSN, autocommit=True, prepare_threshold=0, row_factory=dict_row)
app = resume_graph(None, PostgresSaver(conn))
result = app.invoke(None, {"configurable": {"thread_id": THREAD}})
assert result["counter"] == 1001, result
print(time.perf_counter() - start)
""",
}


RESUME_REPEATS = 21


def resume(dsn: str, repeats: int = RESUME_REPEATS) -> dict[str, float]:
    """Seconds for a new process to load a paused 1,000-step thread and run its last node.

    The peers take turns, each repeat in the other order, so that what the server does in the
    background (writing out the 1,000 steps just made, autovacuum after the earlier parts) falls
    on both alike; before each resume the server is settled (`_settle`)."""
    samples: dict[str, list[float]] = {ours.NAME: [], langgraph_peer.NAME: []}
    stores = {fw.NAME: fw.EXTRA["pg"]() for fw in (ours, langgraph_peer)}  # one each, as a deployment has
    for i in range(repeats):
        for fw in (ours, langgraph_peer) if i % 2 == 0 else (langgraph_peer, ours):
            samples[fw.NAME].append(_resume_once(fw, stores[fw.NAME], dsn, f"long-{fw.NAME}-{i}"))
    return {name: statistics.median(values) for name, values in samples.items()}


def _resume_once(fw: Any, store: Any, dsn: str, thread: str) -> float:
    """Pause a fresh 1,000-step thread, settle the server, and time a new process resuming it."""
    app = fw.resume_graph(None, store)
    if fw is ours:
        app.invoke({"counter": 0}, config={"thread_id": thread, "recursion_limit": 1005})
        schema = store.schema
    else:
        app.invoke({"counter": 0}, {"configurable": {"thread_id": thread}, "recursion_limit": 1005})
        schema = ""
    _settle(dsn)
    code = RESUME[fw.NAME].replace("DSN", repr(dsn)).replace("SCHEMA", repr(schema)).replace("THREAD", repr(thread))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def _settle(dsn: str, patience: float = 10.0) -> None:
    """Let the server finish what the writes before left it to do: a `CHECKPOINT` (the dirty
    pages written now, not by the checkpointer during the next resume) and no autovacuum worker
    running (waited for up to `patience` seconds)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        deadline = time.monotonic() + patience
        busy = "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
        while conn.execute(busy).fetchone()[0] and time.monotonic() < deadline:  # type: ignore[index]
            time.sleep(0.05)


WORKER = {
    ours.NAME: """
import sys, time
from agentflow_nb import END, START, PgCheckpointer, StateGraph
from bench.ours import Count
graph = StateGraph(Count)
graph.add_node("STEP", lambda s: {"counter": s.counter + 1})
graph.add_edge(START, "STEP")
graph.add_conditional_edges("STEP", lambda s: "STEP" if s.counter < 10 else END, {"STEP": "STEP", END: END})
app = graph.compile(checkpointer=PgCheckpointer(DSN, schema=SCHEMA, max_connections=2))
wait_for_go()
start = time.time()
for i in range(COUNT):
    app.invoke({"counter": 0}, config={"thread_id": f"w{WORKER_ID}-{i}"})
print(start, time.time())
""",
    langgraph_peer.NAME: """
import sys, time
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.graph import END, START, StateGraph
from psycopg import Connection
from psycopg.rows import dict_row
from bench.langgraph_peer import Count
graph = StateGraph(Count)
graph.add_node("step", lambda s: {"counter": s["counter"] + 1})
graph.add_edge(START, "step")
graph.add_conditional_edges("step", lambda s: "step" if s["counter"] < 10 else END, ["step", END])
conn = Connection.connect(DSN, autocommit=True, prepare_threshold=0, row_factory=dict_row)
app = graph.compile(checkpointer=PostgresSaver(conn))
wait_for_go()
start = time.time()
for i in range(COUNT):
    app.invoke({"counter": 0}, {"configurable": {"thread_id": f"lw{SCHEMA}{WORKER_ID}-{i}"}})
print(start, time.time())
""",
}

_GO = """
import os, time
def wait_for_go():
    while not os.path.exists(GO):
        time.sleep(0.001)
"""


def throughput(dsn: str, workers: int = 4, count: int = 150) -> dict[str, float]:
    """Threads (10 steps each) completed per second by `workers` processes together."""
    out = {}
    for fw in (ours, langgraph_peer):
        go = scratch.folder("bench-go-") / "go"
        schema = f"bench_w{next(_schemas)}"
        code = _GO + WORKER[fw.NAME]
        procs = []
        for worker in range(workers):
            text = (code.replace("DSN", repr(dsn)).replace("SCHEMA", repr(schema)).replace("COUNT", str(count))
                    .replace("WORKER_ID", str(worker)).replace("GO", repr(str(go))))
            procs.append(subprocess.Popen([sys.executable, "-c", text], cwd=ROOT, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))
        if fw is ours:  # migrate once before the clock starts, as a deployment would
            from agentflow_nb import PgCheckpointer

            with PgCheckpointer(dsn, schema=schema) as store:
                store.setup()
        time.sleep(3)  # let every worker finish importing
        go.touch()
        spans = []
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=600)
            if proc.returncode != 0:
                raise RuntimeError(stderr)
            spans.append(tuple(map(float, stdout.split())))
        out[fw.NAME] = workers * count / (max(end for _, end in spans) - min(start for start, _ in spans))
    return out


def measure(dsn: str, durable_dsn: str | None) -> tuple[dict[str, Any], dict[tuple[str, str], float] | None]:
    """Every measurement on `dsn`, and the per-step loop on `durable_dsn`."""
    opened = install(dsn)
    try:
        results = {"step": per_step(), "grow": growth(), "resumed": resume(dsn), "rate": throughput(dsn)}
    finally:
        for item in opened:
            item.close()
    durable = None
    if durable_dsn is not None:
        opened = install(durable_dsn)
        try:
            durable = per_step(rounds=3)
        finally:
            for item in opened:
                item.close()
    return results, durable


def section(dsn: str, durable_dsn: str | None = None) -> tuple[list[str], list[str]]:
    """The report's PostgreSQL section and its rows of the goals table."""
    results, durable = measure(dsn, durable_dsn)
    step, grow, resumed, rate = results["step"], results["grow"], results["resumed"], results["rate"]
    a, lg = ours.NAME, langgraph_peer.NAME
    cost = {fw: step[(fw, "pg")] - step[(fw, "none")] for fw in (a, lg)}
    growth_ratio = {fw: grow[(fw, 10_000)] / grow[(fw, 10)] for fw in (a, lg)}
    lines = [
        "", "## 7. PostgreSQL: PgCheckpointer vs LangGraph's PostgresSaver (same server, same run)", "",
        f"A throwaway PostgreSQL {_server_version(dsn)} on 127.0.0.1 with fsync and synchronous_commit off; "
        f"langgraph-checkpoint-postgres {metadata.version('langgraph-checkpoint-postgres')}, psycopg "
        f"{metadata.version('psycopg')}. LangGraph runs with its default `durability=\"async\"` (the "
        "checkpoint is written while the next step runs); agentflow_nb saves each step before the next.", "",
        "| per step of the 60-step loop (µs) | agentflow_nb | LangGraph | ours / LangGraph |", "|---|---:|---:|---:|",
        f"| whole step | {step[(a, 'pg')] * US:.0f} | {step[(lg, 'pg')] * US:.0f} | "
        f"{step[(a, 'pg')] / step[(lg, 'pg')]:.2f} |",
        f"| checkpointing (with minus without) | {cost[a] * US:.0f} | {cost[lg] * US:.0f} | {cost[a] / cost[lg]:.2f} |",
        *([f"| whole step, on a server with default durability (every commit waits for the disk) | "
           f"{durable[(a, 'pg')] * US:.0f} | {durable[(lg, 'pg')] * US:.0f} | "
           f"{durable[(a, 'pg')] / durable[(lg, 'pg')]:.2f} |"] if durable else []),
        "", "| growth: per step when each appends a message (µs) | 10 messages | 10,000 | 10,000 / 10 |",
        "|---|---:|---:|---:|",
        *(f"| {fw} | {grow[(fw, 10)] * US:.0f} | {grow[(fw, 10_000)] * US:.0f} | {growth_ratio[fw]:.2f} |"
          for fw in (a, lg)),
        "", "| | agentflow_nb | LangGraph | ours / LangGraph |", "|---|---:|---:|---:|",
        f"| resume a paused 1,000-step thread in a new process (ms) | {resumed[a] * 1e3:.1f} | "
        f"{resumed[lg] * 1e3:.1f} | {resumed[a] / resumed[lg]:.2f} |",
        f"| threads (10 steps) completed per second by 4 worker processes | {rate[a]:.0f} | {rate[lg]:.0f} | "
        f"{rate[a] / rate[lg]:.2f} |",
    ]
    goals = [
        _goal("PostgreSQL per step (whole step vs PostgresSaver)", step[(a, "pg")] / step[(lg, "pg")], 1 / 3,
              "at most 0.33"),
        _goal("PostgreSQL growth: step at 10,000 messages / at 10", growth_ratio[a], 2.0, "within 2x", "x"),
        _goal("PostgreSQL resume of a paused 1,000-step thread vs PostgresSaver", resumed[a] / resumed[lg], 0.5,
              "at most 0.50"),
    ]
    return lines, goals


def _goal(label: str, value: float, limit: float, target: str, unit: str = "") -> str:
    return f"| {label} | {value:.2f}{unit} | {target} | {'met' if value <= limit else 'MISSED'} |"


def _server_version(dsn: str) -> str:
    import psycopg

    with psycopg.connect(dsn) as conn:
        return str(conn.execute("SHOW server_version").fetchone()[0]).split()[0]


PARTS = ("step", "grow", "resume", "rate")


def main(argv: list[str] | None = None) -> None:
    """Print the section, or (given part names) only those measurements, for iterating."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.pg", description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", metavar="PART",
                        help=f"only these measurements ({', '.join(PARTS)}); default: the whole section")
    parser.add_argument("--rounds", type=int, default=7, help="rounds of the per-step loop (default 7)")
    parser.add_argument("--repeats", type=int, default=RESUME_REPEATS,
                        help=f"resumes per framework (default {RESUME_REPEATS})")
    args = parser.parse_args(argv)
    unknown = [part for part in args.parts if part not in PARTS]
    if unknown:
        parser.error(f"unknown part `{unknown[0]}`; the parts are {', '.join(f'`{p}`' for p in PARTS)}")
    from agentflow_nb.checkpointer.pg import LocalCluster

    if not args.parts:
        with LocalCluster(durable=False) as fast, LocalCluster(durable=True) as durable:
            lines, goals = section(fast.dsn, durable.dsn)
        print("\n".join(["| goal | measured | target | |", "|---|---:|---:|---|", *goals, *lines]))
        return
    with LocalCluster(durable=False) as fast:
        opened = install(fast.dsn)
        try:
            for part in args.parts:
                print(_part(part, fast.dsn, args))
        finally:
            for item in opened:
                item.close()


def _part(part: str, dsn: str, args: Any) -> str:
    a, lg = ours.NAME, langgraph_peer.NAME
    if part == "step":
        step = per_step(rounds=args.rounds)
        return (f"per step (µs): {a} {step[(a, 'pg')] * US:.0f} (engine alone {step[(a, 'none')] * US:.0f}), "
                f"{lg} {step[(lg, 'pg')] * US:.0f} (alone {step[(lg, 'none')] * US:.0f}); "
                f"ours / LangGraph {step[(a, 'pg')] / step[(lg, 'pg')]:.2f} (goal <= 0.33)")
    if part == "grow":
        grow = growth()
        return "; ".join(f"{fw} growth {grow[(fw, 10)] * US:.0f} -> {grow[(fw, 10_000)] * US:.0f} µs "
                         f"({grow[(fw, 10_000)] / grow[(fw, 10)]:.2f}x)" for fw in (a, lg))
    if part == "resume":
        resumed = resume(dsn, repeats=args.repeats)
        return (f"resume (ms): {a} {resumed[a] * 1e3:.1f}, {lg} {resumed[lg] * 1e3:.1f}; "
                f"ours / LangGraph {resumed[a] / resumed[lg]:.2f} (goal <= 0.50)")
    rate = throughput(dsn)
    return f"threads per second by 4 workers: {a} {rate[a]:.0f}, {lg} {rate[lg]:.0f}"


if __name__ == "__main__":
    main()
