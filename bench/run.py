"""Side-by-side benchmarks: agentflow_nb vs LangGraph, Burr and pydantic-graph, in one process run.

Run: `make bench`. Prints a Markdown report and writes it to bench/README.md. Every number is a
median; the frameworks are measured in interleaved rounds so that a noisy moment on a shared
machine hits all of them alike.
"""

from __future__ import annotations

import gc
import importlib.metadata as metadata
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", message=".*deprecated.*")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import (  # noqa: E402
    burr_peer,
    langgraph_peer,
    nested,
    notebook_view,
    ours,
    pg,
    pydantic_graph_peer,
    roundtrip,
    storage,
)
from bench.harness import median_seconds, per_step, steady_per_step  # noqa: E402

STEPS = 60
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "9"))
PAIRS = 7
KINDS = ("none", "memory", "file")
PEERS = (langgraph_peer, burr_peer, pydantic_graph_peer)
US = 1e6
NAME_LG = langgraph_peer.NAME


def loop_costs(
    frameworks=None, kinds=KINDS, factory: str = "loop"
) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], float]]:
    """Seconds per node-step of a 60-step loop, per (framework, kind): totals, and the cost of
    checkpointing as the median of paired differences (with persistence minus without, run back
    to back in a shuffled order), which cancels the machine's slow drifts."""
    frameworks = frameworks or (ours, *PEERS)
    runners = {(fw.NAME, kind): getattr(fw, factory)(kind, STEPS) for fw in frameworks for kind in kinds}
    for run in runners.values():
        per_step(run, repeats=1)  # warm up
    totals: dict[tuple[str, str], list[float]] = {key: [] for key in runners}
    costs: dict[tuple[str, str], list[float]] = {}
    shuffle = random.Random(7).shuffle
    for _ in range(ROUNDS):
        for fw in frameworks:
            for _ in range(PAIRS):
                order = list(kinds)
                shuffle(order)
                took = {kind: one_run(runners[(fw.NAME, kind)]) for kind in order}
                for kind in kinds:
                    totals[(fw.NAME, kind)].append(took[kind])
                    if kind != "none":
                        costs.setdefault((fw.NAME, kind), []).append(took[kind] - took["none"])
    median = statistics.median
    return ({key: median(v) for key, v in totals.items()}, {key: median(v) for key, v in costs.items()})


def one_run(run) -> float:
    gc.collect()
    start = time.perf_counter()
    steps = run()
    return (time.perf_counter() - start) / steps


def growth_costs(steps: int = 60, repeats: int = 5) -> dict[tuple[str, str, int], float]:
    """Seconds per step at each thread size: the median over `repeats` runs of `steps` steps."""
    out = {}
    for fw in (ours, langgraph_peer):
        for kind in ("memory", "file"):
            for size in (10, 1_000, 10_000):
                runs = [steady_per_step(fw.growth(kind, size, steps)) for _ in range(repeats)]
                out[(fw.NAME, kind, size)] = statistics.median(runs)
    return out


def resume_latency(fw, repeats: int = 5) -> float:
    """Seconds for a new process to load a paused 1,000-step file thread and finish it."""
    template = Path(tempfile.mkdtemp(prefix="bench-resume-"))
    fw.make_long_thread(str(template))
    samples = []
    for i in range(repeats):
        copy = template.parent / f"{template.name}-{i}"
        shutil.copytree(template, copy)
        code = fw.RESUME.replace("FOLDER", repr(str(copy)))
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
        samples.append(float(done.stdout.strip().splitlines()[-1]))
        shutil.rmtree(copy)
    shutil.rmtree(template)
    return statistics.median(samples)


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b > 0 else "-"


def engine_goals(loop, async_loop) -> list[str]:
    """Issue 14: the engine's own cost per step ("none") below pydantic-graph's, sync and async
    nodes, with the ratio against every peer."""
    rows = []
    async_peers = (langgraph_peer, pydantic_graph_peer)
    for label, table, peers in (("sync nodes", loop, PEERS), ("async nodes", async_loop, async_peers)):
        mine = table[(ours.NAME, "none")]
        others = ", ".join(f"{fw.NAME} {ratio(mine, table[(fw.NAME, 'none')])}" for fw in peers)
        versus = mine / table[(pydantic_graph_peer.NAME, "none")]
        rows.append(f"| engine's own cost per step (no persistence), {label}: ours / peer ({others}) | "
                    f"{versus:.2f} of pydantic-graph | below 1 | {'met' if versus < 1 else 'MISSED'} |")
    return rows


def goals(cost, async_cost, grow, more: list[str]) -> list[str]:
    """The issues' goals, each with the number that decides it (`more`: rows made elsewhere)."""
    rows = []
    for label, mine, peer, target in (
        ("in-memory checkpointing, sync nodes", cost[(ours.NAME, "memory")], cost[(NAME_LG, "memory")], 10),
        ("in-memory checkpointing, async nodes", async_cost[(ours.NAME, "memory")],
         async_cost[(NAME_LG, "memory")], 10),
        ("file checkpointing (vs SqliteSaver)", cost[(ours.NAME, "file")], cost[(NAME_LG, "file")], 5),
    ):
        times = peer / mine
        rows.append(f"| {label} | {times:.1f}x cheaper than LangGraph | at least {target}x | "
                    f"{'met' if times >= target else 'MISSED'} |")
    for kind in ("memory", "file"):
        growth = grow[(ours.NAME, kind, 10_000)] / grow[(ours.NAME, kind, 10)]
        rows.append(f"| growth, {kind}: step at 10,000 messages / at 10 | {growth:.2f}x | within 2x | "
                    f"{'met' if growth <= 2 else 'MISSED'} |")
    return ["## Goals", "", "| goal | measured | target | |", "|---|---:|---:|---|", *rows, *more, ""]


def report() -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores ({platform.machine()}), Python "
        f"{platform.python_version()}; {ROUNDS} interleaved rounds, medians. Command: `make bench`.",
        "",
        "Versions: " + ", ".join(
            f"{name} {metadata.version(name)}"
            for name in ("agentflow_nb", "langgraph", "langgraph-checkpoint-sqlite", "langgraph-checkpoint-postgres",
                         "apache-burr", "pydantic-graph")
        ) + ".",
        "",
    ]
    header = len(lines)
    loop, cost = loop_costs()
    mine = {kind: loop[(ours.NAME, kind)] for kind in KINDS}
    lines += [
        "## 1. Per node-step cost of a 60-step loop graph (µs)",
        "",
        "*checkpointing* is the cost a framework adds per step when it saves each step: its time with",
        "that persistence minus its own time without any, as the median of differences between runs made",
        "back to back. Ratios are ours / peer (below 1: we are cheaper).",
        "",
        "| framework | none | in-memory | file | in-memory checkpointing | file checkpointing |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for fw in (ours, *PEERS):
        t = {kind: loop[(fw.NAME, kind)] for kind in KINDS}
        lines.append(
            f"| {fw.NAME} | {t['none'] * US:.1f} | {t['memory'] * US:.1f} | {t['file'] * US:.1f} | "
            f"{cost[(fw.NAME, 'memory')] * US:.1f} | {cost[(fw.NAME, 'file')] * US:.1f} |"
        )
    lines += ["", "| ours / peer | in-memory total | file total | in-memory checkpointing | file checkpointing |",
              "|---|---:|---:|---:|---:|"]
    for fw in PEERS:
        t = {kind: loop[(fw.NAME, kind)] for kind in KINDS}
        lines.append(
            f"| vs {fw.NAME} | {ratio(mine['memory'], t['memory'])} | {ratio(mine['file'], t['file'])} | "
            f"{ratio(cost[(ours.NAME, 'memory')], cost[(fw.NAME, 'memory')])} | "
            f"{ratio(cost[(ours.NAME, 'file')], cost[(fw.NAME, 'file')])} |"
        )
    async_peers = (langgraph_peer, pydantic_graph_peer)
    async_loop, async_cost = loop_costs((ours, *async_peers), ("none", "memory"), "loop_async")
    lines += ["", "The same loop with an **async** node, run with `asyncio.run(app.ainvoke(...))` (no worker-thread "
              "hop for the node; pydantic-graph: `asyncio.run(graph.run(...))`):", "",
              "| framework | none | in-memory | in-memory checkpointing |", "|---|---:|---:|---:|"]
    for fw in (ours, *async_peers):
        lines.append(f"| {fw.NAME} | {async_loop[(fw.NAME, 'none')] * US:.1f} | "
                     f"{async_loop[(fw.NAME, 'memory')] * US:.1f} | {async_cost[(fw.NAME, 'memory')] * US:.1f} |")
    for fw in async_peers:
        lines.append(f"| ours / {fw.NAME} | {ratio(async_loop[(ours.NAME, 'none')], async_loop[(fw.NAME, 'none')])} | "
                     f"{ratio(async_loop[(ours.NAME, 'memory')], async_loop[(fw.NAME, 'memory')])} | "
                     f"{ratio(async_cost[(ours.NAME, 'memory')], async_cost[(fw.NAME, 'memory')])} |")
    grow = growth_costs()
    lines += ["", "## 2. Growth: per-step cost when each step appends one message (µs)", "",
              "A thread already holding 10, 1,000 or 10,000 messages is streamed for 60 more steps; the",
              "time from the first step's end to the last one's, per step; the median of 5 such runs.", "",
              "| framework | store | 10 messages | 1,000 | 10,000 | 10,000 / 10 |", "|---|---|---:|---:|---:|---:|"]
    for fw in (ours, langgraph_peer):
        for kind in ("memory", "file"):
            t = [grow[(fw.NAME, kind, size)] for size in (10, 1_000, 10_000)]
            store = {"memory": "in-memory", "file": "file" if fw is ours else "SQLite file"}[kind]
            lines.append(f"| {fw.NAME} | {store} | {t[0] * US:.1f} | {t[1] * US:.1f} | {t[2] * US:.1f} | "
                         f"{t[2] / t[0]:.2f} |")
    stored = storage.measure()
    nested_lines, nested_goals = nested.report(nested.nested_costs(rounds=ROUNDS), nested.growth_ratios())
    trips = roundtrip.measure()
    ours_rt = median_seconds(ours.roundtrip(), 60)
    lg_rt = median_seconds(langgraph_peer.roundtrip(), 60)
    lines += ["", "## 3. Pause at a breakpoint and resume (in-memory), per round trip (µs)", "",
              "| agentflow_nb | LangGraph | ours / LangGraph |", "|---:|---:|---:|",
              f"| {ours_rt * US:.0f} | {lg_rt * US:.0f} | {ratio(ours_rt, lg_rt)} |"]
    ours_resume, lg_resume = resume_latency(ours), resume_latency(langgraph_peer)
    lines += ["", "## 4. Resume a paused 1,000-step file thread from a new process (ms)", "",
              "Load the thread and run its last node, after imports.", "",
              "| agentflow_nb (JSONL) | LangGraph (SqliteSaver) | ours / LangGraph |", "|---:|---:|---:|",
              f"| {ours_resume * 1e3:.1f} | {lg_resume * 1e3:.1f} | {ratio(ours_resume, lg_resume)} |"]
    ours_read, ours_n = ours.history_app(100)
    lg_read, lg_n = langgraph_peer.history_app(100)
    ours_h, lg_h = median_seconds(ours_read, 30), median_seconds(lg_read, 30)
    lines += ["", "## 5. `get_state_history` over about 100 checkpoints (ms)", "",
              "| agentflow_nb | LangGraph | ours / LangGraph |", "|---:|---:|---:|",
              f"| {ours_h * 1e3:.2f} ({ours_n} checkpoints) | {lg_h * 1e3:.2f} ({lg_n} checkpoints) | "
              f"{ratio(ours_h / ours_n, lg_h / lg_n)} per checkpoint |"]
    lines += ["", "## 6. Notebook view (kernel side)", "",
              "A step's update: the session takes a node's chunks, the graph view sends the position's CSS "
              "classes, the event log catches up; plus building the static fallback (the saved notebook's "
              "picture). Goals: a step with the fallback under 1 ms at 200 nodes; the inspector for "
              "1,000 messages under 200 ms.",
              "", "| nodes | first drawing, runs `dot` (ms) | step: live view (µs) | step: static fallback (µs) "
              "| step, both (µs) |", "|---:|---:|---:|---:|---:|"]
    for n in (5, 50, 200):
        live, fallback = notebook_view.step_updates(n)
        lines.append(f"| {n} | {notebook_view.first_drawing(n):.1f} | {live:.0f} | {fallback:.0f} | "
                     f"{live + fallback:.0f} |")
    lines += ["", f"Inspector build for a state holding 1,000 messages: {notebook_view.inspector_build():.1f} ms."]
    from agentflow_nb.checkpointer.pg import LocalCluster

    with LocalCluster(durable=False) as fast, LocalCluster(durable=True) as durable:
        pg_lines, pg_goals = pg.section(fast.dsn, durable.dsn)
    lines += pg_lines
    lines += ["", *nested_lines]
    lines += ["", *storage.section(stored, number=9)]
    lines += ["", *roundtrip.section(trips, number=10)]
    more = engine_goals(loop, async_loop) + roundtrip.goal_rows(trips) + pg_goals + nested_goals
    lines[header:header] = goals(cost, async_cost, grow, more + storage.goal_rows(stored))
    return "\n".join(lines) + "\n"


INTRO = """# Benchmarks

`make bench` installs the peers into `.venv` (the `bench` extra: LangGraph with its SQLite
checkpointer, Apache Burr, pydantic-graph 1.x) and runs `bench/run.py`, which measures every
framework in the same process, interleaved, and rewrites the results below. No timing is
asserted in the tests: these numbers are read, not gated.

Workloads: a 60-step loop whose node adds 1 to a counter (sync nodes in LangGraph, Burr and ours;
pydantic-graph nodes are async by design); the same loop with no persistence, in-memory
persistence and file persistence. "none" for agentflow_nb is a checkpointer that keeps only the
newest state object (the engine's own cost). Sync `invoke` of a graph of sync nodes runs in the
calling thread, nodes inline, as LangGraph's does; `ainvoke` runs sync nodes in a worker thread
(hence the async-node table). A Burr application is one run, so each Burr run builds its
application, as Burr is used. Nested graphs (section 8, `bench/nested.py`): the same loop run as
a subgraph one and three levels down, in agentflow_nb and LangGraph, the outermost graph holding
the checkpointer.

Storage (section 9, `bench/storage.py`, also runnable alone: `python bench/storage.py`): opening
a 10,000-message file thread beside LangGraph's SqliteSaver (in a process of its own, both stores
alike: see the storage prose below) and a 100,000-message one, opening time per MiB of a large
last line, `get_state_history(limit=N)` of a 20,000-step thread, and the
per-step cost at 10 and 10,000 messages for every form a node result can take.

Pause/resume round trip (section 10, `bench/roundtrip.py`, also runnable alone): a one-node loop
compiled with `interrupt_after` on its node; one round trip is one call resuming the paused thread
with nothing new, which runs one step and pauses again (a notebook Step, a server resuming an
approval), against LangGraph (`invoke(None, config)`) and pydantic-graph (`iter_from_persistence`
then one `next()`), in memory and on file. Burr has no resume-a-paused-run call of this kind
(an application is rebuilt from its persister), so it is not in that table.

## Where a step's time goes (issue 14)

Profiled with callgrind, whose instruction counts do not depend on the load of a shared machine:
`python bench/instructions.py` (`make bench-instructions`) runs the 60-step loop with no
persistence under `valgrind --tool=callgrind` with 1 and with 6 runs, both with the same hash
seed, and divides the difference by the 300 extra steps (median over three seeds; a seed alone
moves the count by a few percent). Async workloads are run by `asyncio.run` each, a new event
loop per run, for ours and for pydantic-graph alike. cProfile on the same loop and
`callgrind_annotate` of the difference named the functions. Instructions per step:

| | agentflow_nb, sync nodes | agentflow_nb, async nodes | pydantic-graph (sync / async) |
|---|---:|---:|---:|
| before (main at the start of issue 14) | 301.7k | - | 117.4k / - |
| first round | 135.4k | 149.5k | 117.5k / - |
| second round (main before this one) | 122.4k | 138.5k | 117.6k / 125.6k |
| now | 98.7k | 110.8k | 117.6k / 125.6k |

What the profile showed, and what changed:

- A sync `invoke` built every chunk a stream would get (two `StreamChunk`s a step, frozen
  dataclasses) and passed each through three nested async generators, one of them created per
  step; nobody read them. A run that only wants its result (`invoke`) is now *quiet*: the one
  stepping loop makes no chunk and tells no publisher when there is none, and a node step is a
  coroutine, not a generator.
- Five state copies a step through pydantic's `model_copy` (`__copy__`, `copy.copy` of each
  slot): now four, made directly (`updates.copy_with`, about half the cost each). A flat step's
  new metadata is set on the state the node's result made instead of copying it again.
- `isinstance(x, Mapping)` / `inspect.isawaitable` (ABC checks) several times a step: a node's
  usual result (a dict) is now recognised by its type first; sync routers and sync nodes on a
  run's private loop are called directly, without a coroutine each.
- A system call (`os.urandom`) per checkpoint id: now `random.getrandbits` (seeded from the OS,
  reseeded after a fork).
- Breakpoint checks through three functions twice a step even with no breakpoint: the decision
  to pause is now one function, `graph/decide.py` `decide(Outcome, breakpoints)`, called at every
  node boundary that has something to decide (a breakpoint, stepping, a stop, a node's own
  request).
- Per sync call, a new event loop (selector, self-pipe, closed again): 65 µs on an idle core,
  several times that on a loaded one. Each thread now keeps its private loop between calls.

The second round (`callgrind_annotate` of the difference): a third of a step is the
interpreter's own loop, so what counts is how many Python calls and objects a step makes, and
every attribute read on a pydantic model goes through its `__getattr__` hook. What changed:

- The node's copy of the state is made in one pass (was a general copy with an update dict);
  a node's dict result, the fields it touched (cached per key tuple), its `set_interrupt`
  request and the new state come from one call (`updates.apply_node_result`); the engine's
  own keys are refused once per input (they were checked twice on one path).
- The step's new metadata carries only the position and the step (the thread's metadata is
  RUNNING with nothing to clear all through the loop); no `StateChanges.__init__` or id
  function call per checkpoint, the id made with `%` formatting.
- Node and router bodies are called without `Callee.here`; a router's usual answer is read from
  its path map, and no error message is formatted per step.
- Per run: the compiled breakpoints are built once per graph, a new thread's input is validated
  once (was twice, plus four copies), no RUNNING copy for a thread already clean, no exception
  raised to learn that no loop runs, the lease is a plain async context manager (no generator
  for the loop to track), and a sync call runs its task on the kept loop without
  `Runner.run`'s SIGINT check (`signal.getsignal`'s enum conversions).

Left per step: four pydantic model instances (the node's copy of the state and of its
metadata, the state its result makes, the new metadata), the checkpoint record, and five
short coroutines; per run, the event loop's own turn.

For the round trip the profile showed, besides the event loop: every resume decoded the thread
again; the file store's lock file was cut and written again at every lease, which ext4 flushes
to disk when the file is closed (as costly as an fsync: about 2 ms a resume on this machine);
a run id (`uuid4`) was made for events nobody received; `signal`'s enum conversions twice per
call; then a general copy per pause compared every field to find what the pause changed, the
`Runner.run` SIGINT check, `{}` input checked key by key. Now a pause after a node saves with
the node's own hint of what it changed. A run that ends leaves the graph a private copy of where it left the thread, and the
next run uses it only while the store says it is still the newest checkpoint
(`BaseCheckpointer.ahead`: the newest id in memory; for a file, the id this store wrote last if
the file still has the device, inode, size and modification time it had right after that
write; the default, used by PostgreSQL, is "don't know", so those runs load). The lock file is
written over, never cut. What is left in a file round trip is mostly the one fsync of the pause
(`durable=True`); LangGraph's SqliteSaver commits (and syncs its WAL) more than once per resume,
and pydantic-graph's file persistence never syncs. Section 10's last row takes the flush out of
all three (ours `durable=False`, SQLite `synchronous=NORMAL`, its usual setting with a WAL):
what is left is each framework's own work around its file.

Section 3's in-memory round trip (a new thread invoked to a breakpoint, then resumed with `{}`;
`gc.collect()` before each sample, for both frameworks) was then profiled cold. Without the
collect our trip takes about 170 µs, after it about 500: the collector walks the whole heap and
leaves the CPU caches cold (touching 32 MB instead gives nearly the same), so a trip then costs
mostly what distinct code and data it touches. callgrind with a simulated 2 MB last-level cache
and a collect before each of 5 trips (`--cache-sim=yes --LL=2097152,16,64`, collecting only
inside the trip) counted about 7,400 misses per trip, a third of them instruction fetches: at
some 50 ns each, that is the cold penalty. perf_counter spans after a collect: an empty sync
call (`run_here` of a coroutine returning 1) cost about 90 µs, against 20 for driving the bare
coroutine; the largest block was the asyncio loop's turn (`run_until_complete`, `run_forever`'s
set-up, the selector poll, then the task's step), paid twice per trip; then arming Ctrl-C
(a context manager and two `sigaction` calls per call), a new thread's input validation
(about 50 µs cold, with the metadata's defaults validated again by its default factory) and
four saves (about 35 µs cold each).

What changed: a sync call runs its task's first step right in the calling thread when nothing
else is due on the thread's private loop: the loop marked running in this thread
(`get_running_loop()`, `is_running()`), the task current, the loop's async generator hooks set,
as `run_forever` sets them up for its callbacks and as Python 3.12's eager tasks start. A plain
graph's run whose sync nodes never wait ends in that step, with no turn of the loop. A run that
awaits something, or leaves other callbacks due (a task a node started gets its first step
before the call returns, as on the loop), goes on with `run_until_complete` as before; the tests
run each case both ways. Ctrl-C is armed without a context manager, a config and an input are
recognised as dicts before the `Mapping` ABC is asked, and a new state's default metadata is a
copy of one made once. Per trip: 1.16M instructions and 7,360 simulated misses before, 1.04M
and 6,620 after; section 3 on a shared machine, both trees run back to back: ours 640-690 µs
before, 565-585 after, LangGraph 3.7-4.0 ms (0.17 before, 0.15 after: the goal of 0.10 is not
met yet). What is left per sync call, cold (perf_counter after a collect, an empty coroutine):
driving the bare coroutine about 30 µs, with the `Task` and its step about 85, the whole
`run_here` about 125, and arming and disarming Ctrl-C alone about 50 (two `sigaction` system
calls); then the run's own work. The `Task` stays (`current_task()`, `asyncio.timeout` in a
store need it) and so does Ctrl-C; most of the rest of a cold trip is the interpreter and
pydantic-core being fetched again for the run's own work.

A file round trip was then profiled on its own (`strace -c` over 100 trips for system calls,
`valgrind --tool=callgrind` over 200 trips with `durable=False` for instructions, perf_counter
spans around the store's methods): 54 system calls a trip, 27 of them the store's bookkeeping
around the one write and fsync, and 370k instructions a trip in the store beside the engine's
660k. A lease opened, locked and closed the folder's gate and the thread's lock file, read the
file's last byte for a torn tail (another open, three stats, a buffered reader), and the run then
stat'ed the file again for `ahead`, looked for a stop file off the loop, opened the file (three
more stats) to append the pause and closed it. Now a thread taken again whose file still has
the identity this store left it with (one `lstat`) is known to end in this store's complete
line: no torn-tail check, `ahead` answers without a stat while the thread is held, and the
append file and lock file kept open since the last run are used (POSIX; at most 16 threads'
files, closed with the store; a file removed, replaced or written by anyone else meanwhile
changes its identity, and then nothing kept is used). The gate stays open between holds
(flock/unlock only). A stop request from another process is looked for by each running step's
save, already off the loop, and handed to the run as an in-process request, so a run on a shared
loop no longer hops to a worker thread for it at every node boundary (about 30% of an `ainvoke`
step). Each line's JSON uses one encoder instead of making one per `json.dumps` call. Left: 27
system calls a trip (about 8 of them the engine's event loop), about 225k instructions in the
store (the line's encoding and the checks that every value loads back are most of it), and the
fsync of the pause, 100-250 µs on this machine, which stays: a pause is on disk when `invoke`
returns.

Opening a 10,000-message file thread (a new store and graph, `get_state`) was profiled with
cProfile and perf: 75% of it is pydantic-core building the state from the JSON bytes (10,000
`Message` models: each an object, its `__dict__`, its fields-set set, its metadata dict), and
most of the rest is the kernel zeroing fresh pages for them. The JSON already went to
`model_validate_json` as bytes, with the collector paused (see `codec._gc_paused`). What
changed: pydantic-core's string cache, which looks up every short string of a document to keep one copy of each, is off for
loading (a validator built from the schema's own core schema with `cache_strings="none"`; the
messages' ids, texts and timestamps hardly repeat): validation took about 15% less. And a
snapshot's messages are copied once from the bytes read into the document validated, not six
times (read, line split, line end cut, checksum body, messages slice, document): the lines are
views (`memoryview`) of the bytes read, the checksum runs over the view, and the pieces of a
chain are joined once. Every record is still validated through the state schema, nothing named
in the data is imported, and a damaged or forged record is still a `CheckpointCorruptError`
naming file and line.

That still missed issue 12's goal in `make bench` (0.34 of SqliteSaver's time) while
`python bench/storage.py` alone gave 0.21, so opening was measured again with CPU time and page faults
beside the clock (the machine is shared: its wall clock is noisy). Not the collector: a
`gc.callbacks` hook saw no collection during an open, also with 3.3 million live objects. What
varies is memory. The state of a 10,000-message thread was 12.4 MB of small objects
(`tracemalloc`), and where they land decides what opening costs. When the previous state's
arenas had gone back to the OS, each open (before the change below) took some 3,450 page faults,
at about 2.7 µs each on this machine (a virtual one; touching 12 MB of fresh memory takes 8.3
ms): 9 ms of 20. In a heap left fragmented (a new process that first keeps a random third of 3
million small objects, `storage.fragment_heap`), ours took 18-22 ms of CPU against 11-15 in a
clean one, SqliteSaver 83-105 against 80-90 (`storage.open_times` in new processes, three of
each, alternating, after the change below; the machine was loaded, so CPU times vary too): a
store that spends its time building many small objects pays more for a scattered heap than one
that spends it elsewhere. `make bench` runs this section after sections 1 and 2 in the same
process; after just those two (before the change below, one run each), ours took 19.6 ms of CPU
against 15.3 in a new process, SqliteSaver 84.8 against 79.7. A storage number should not depend
on which workloads ran before it, so the comparison now runs in a process of its own
(`storage.open_times_apart`), both stores interleaved as before, as section 4 does for resumes;
the table's second row shows both in a fragmented heap, which a long-running notebook can have. One
process's number is not another's, though: in new processes, one after the other on a quiet
machine, ours took 10.6, 11.0, 16.5 and 18.8 ms against SqliteSaver's 71-96 (0.15 to 0.25),
each the median of 9 samples in its process; where a process's heap and pages land decides
which (`storage.open_times_apart(processes=1)`, four times). So the comparison runs in 5 new
processes and reports the median of their medians, for both stores alike.
And each sample's result is now freed after the clock stops, for both: SqliteSaver's values had
been freed inside its clock (about 5 ms), ours in the collection before the next sample.

Then the memory itself: pydantic-core keeps, per model, a set of the fields its input gave, and
at the fifth field that set grows from 8 slots to 32: 728 bytes, more than the rest of a message
(object, `__dict__`, metadata dict, strings: about 500). A message whose `metadata` is empty
(most of a conversation) is now written without it; it loads back as `{}`, the field's default,
and is built with four fields given: validating 10,000 of them took 8.6 ms of CPU instead of
11.2 (same process, alternating), an open in a new process 2,110 page faults instead of 3,460;
beside SqliteSaver, ours took 16-18 ms of CPU instead of 20-20.5 in a clean heap and 15.5-16
instead of 21.5-25 in the fragmented one (0.17-0.19 of SqliteSaver's CPU time there, was
0.25-0.26), the old and the new code alternating in new processes. The writer removes only a
message's own `,"metadata":{},` (every saved message is a `Message`, its fields in order, and a
JSON string cannot hold `,"`); files written before load as they did. Tried and dropped: laying
the document out in the read buffer instead of joining a copy (no gain that could be measured: a
large buffer comes back from malloc without faults), and sharing one fields-set among the
messages with a validator function per message (the call cost more than the memory saved, and
pydantic-core reuses a model's own built validator wherever that model appears, so a copy of the
state's schema cannot change how its messages are built). Left: validating every message as a
model. (`get_state` from sync code reaches the store through the background loop and a worker
thread, two thread hops SqliteSaver does not make; against a `run_here` call in the caller's
thread, their cost was within the noise of this machine.)
## A cold PostgreSQL resume (issue 11)

`python -m bench.pg resume` starts a new process per resume; the clock starts after imports
and includes making the store (connecting) and building the graph, for both stores. The peers
take turns, each repeat in the other order, with the server settled before each resume
(`CHECKPOINT`, no autovacuum worker running); each gets a fresh 1,000-step thread.

Where a cold resume of ours goes on a quiet machine (load average below 1; perf_counter spans
in the child, `log_min_duration_statement=0` for the server's side; typical of five): our
Python before the first statement 1.0 ms (making the store 0.4, libpq's `connect_start` half
of it; the graph 0.2; the sync call's start 0.4, half of it making its event loop), then 2.6 ms
until the connection is ready. That part is the server's and `PostgresSaver` pays all of it: a new
backend answers libpq's SSL request 1.3-1.7 ms after the connect starts and sets the session up
in another 1.7-2.2 ms once the startup packet comes (3.8 ms alone, connect to ready). Then the
lease 1.5 ms (the server parses it for 1.0: it is the session's first statement, and a
session's first touch of any table costs 0.5 ms over `SELECT 1`, of the threads table 0.3 more,
its status index 0.1-0.2 of that); our Python from the lease's row to the write 0.95 (reading
the row 0.25, building the state 0.2, engine and node 0.2, planning the write 0.35), behind
which the server prepares the write (0.4-0.5 ms); the write 0.5-0.7; the run's end 0.15. So
0.42 of `PostgresSaver`'s 13-15 ms (5.5-6.2 ms) would leave about 2 ms after the connection,
and the lease and the write alone take 2-2.2 ms of server time in a new session: one statement
to take the lease and read the head, one to write, is the floor of this design.

This round, each measured interleaved against the code before it: the write is sent to be
prepared as soon as the lease's row arrives (before the row is read); the connection's psycopg
objects are made while the server sets up the session; the statements run through libpq are
numbered once, at import; a URI's hosts are read with a regular expression when deciding to
connect early (psycopg's conninfo parser took 0.1-0.2 ms); the lease's `ttl` is typed, since an
untyped parameter beside an `interval` makes a new session weigh every `*` operator (0.13 ms of
the lease; 40 fresh sessions each). The first four brought a resume's instructions in the clock
from 1.4 M to 0.7 M (`valgrind --tool=callgrind`, with and without the clock's part) and, in
the bench's own procedure, the median from 8.85 and 9.30 ms to 8.74 and 8.54 (12 and 16
resumes each); the typed `ttl` 8.73 to 7.99 (14 each). `python -m bench.pg resume` now gives
0.45, 0.47 and 0.49 in three runs back to back (ours 7.1-8.4 ms, `PostgresSaver` 15.7-17.2),
against 0.59 and 0.56 for the code before, run the same way on the same quiet machine; the goal
holds, without the margin of 0.42 asked for. `step`, `grow` and `rate` did not move.

A second round (`python -m bench.pg resume`, and spans of the child's client work after the
connection is ready, cold resumes of the old and new code interleaved, medians of 12 each):
that client work went from 1.10 to 0.76 ms. A profile of the window between the lease's row and
the write showed about 430 Python calls at 1.3-2 µs each: code that is cold in a new process,
and cold again after every wait, since the server's backend runs meanwhile. What moved: the
store starts connecting before it builds its statements (libpq's connect began 74 µs after the
clock, now 43; the three write statements are numbered then too); the lease's renewal thread
starts before the lease, so its start (about 90 µs) waits with the connection; a graph keeps no
copy of where a run left its thread when the store cannot confirm the copy is still the newest
(`ahead`: PostgreSQL never could, so the copy, 60 µs at each run's end, was never used); and
compiling a graph builds its state's JSON validator (35 µs that the first load paid). The
same code takes 5.7 ms in one hour and 8 in another on this shared machine (the server's part,
connecting and the first statement, swings most: the lease alone 0.9 to 1.8 ms), so the ratio
moves with it: 0.45-0.48 in a quiet spell, 0.50-0.52 in a slow one. The resume part now uses one
store per framework for all its resumes, as `PostgresSaver` always did (before, each resume of
ours made a new schema and store, whose renewal threads stayed open), and 21 resumes each.
Tried this round and dropped: the head's arrays as `text[]` parsed by psycopg's loader (no
change to the lease); `sslmode=allow` for a local server, which skips the SSL request (no
change: the connection waits for the server's new process, not for the round trip); running
everything once before the clock (an in-memory resume of the same graph: no measurable change);
planning the write ahead with `EXPLAIN EXECUTE` (0.2 ms off the write, for 0.5 ms of server
work that the client's Python no longer covers), or a read that opens the checkpoints' indexes
sent with the write's prepare (0.09 ms off the write, 0.4 ms more waiting for the prepare); the
lease returning the version from a column default and the arrays as `text[]`, without a
function or `array_to_json` (0.04 ms, not worth a migration); a plain `UPDATE` for the lease
instead of the upsert (no change). A session's first statement costs the server
0.5-0.7 ms whatever it reads (a catalog row by key costs more than our lease), so two
statements in a new session remain the floor.

Tried and dropped (quiet machine, interleaved): connecting in a thread (psycopg's
`PGconn.connect` and `reset` keep the interpreter's lock for the whole connect, 3-5 ms in which
the caller stalls); sending the SSL request when the store is made (0.1 ms better in one run,
0.9 worse in another: the backend's answer comes after the graph is built anyway); starting the
lease's renewal thread before the lease (0.8 ms worse, twice) or, to measure, not at all (no
change); the head's arrays as `text[]` instead of JSON, the version as a constant instead of
`schema_version()`, `ON CONFLICT ON CONSTRAINT` (none changed the lease in a new session); not
preparing the write ahead (0.5 ms worse); touching the checkpoints' indexes before the write
(0.15 ms off the write for a 0.3 ms statement).

A third round looked for what is left (quiet machine, interleaved, medians). In bench-like
resumes (21 each), our connection is ready 2.9 ms after the clock and `PostgresSaver`'s 3.3;
after that ours takes 2.35 ms and `PostgresSaver` 7.3 (0.32), the whole 5.25 against 10.7 ms
(0.49). The connection, which both stores need and neither shapes, is more than half of our
time. On the server's side, the lease in a new session is parsing and analysis 0.45 ms,
planning 0.2 and execution 0.15 (`log_parser_stats` and its siblings); a session's first read
of any table costs 0.47-0.55 ms over `SELECT 1`, whatever its width, defaults, arrays or
indexes; the threads' status index costs the lease nothing measurable (1.23 ms with it, 1.24
without, 25 fresh sessions each, the server settled before each; above it was put at 0.1-0.2 ms); the write,
prepared ahead, takes 0.5-0.55 ms, and 0.3-0.45 ms even in a warm session. Tried and dropped:
reading the head and taking the lease as two statements in one libpq pipeline (the row comes
0.1 ms sooner, the lease 0.33 ms later); building the write's generic plan ahead
(`plan_cache_mode=force_generic_plan` and `EXPLAIN EXECUTE`: 0.1 ms off the write for 0.5 ms
more server work than the client's Python covers); exercising the client's code during the
connection wait with an in-memory resume of the same graph (70 µs off the client's part, within
the noise of the whole); a `VACUUM` before each resume, for both stores (no change in the
ratio); `gssencmode=disable` and `sslmode=disable` (connecting within 0.1 ms of the default);
the server on one core and the client on the other (both stores 0.4-0.8 ms faster, the ratio
0.512 against 0.510). Unpinned, `python -m bench.pg resume` and these harnesses gave 0.47,
0.49, 0.50, 0.50, 0.51, 0.51, 0.53, 0.53 and 0.56 in one evening: the goal sits on this
machine's noise, and two statements in a new session plus connecting are the floor of this design.

"""


def main() -> None:
    text = report()
    print(text)
    (ROOT / "bench" / "README.md").write_text(INTRO + text.replace("# Benchmarks\n\n", "## Results\n\n", 1))


if __name__ == "__main__":
    main()
