"""Storage benchmarks: opening long threads, history with a limit, growth per node result form.

Run alone with `python bench/storage.py` (prints its section), or as part of `make bench`.
Every time is a median over repeats; the LangGraph comparison runs interleaved with ours, so a
noisy moment hits both alike, in processes of their own (`open_times_apart`), so that what earlier
sections left in the heap weighs on neither, and no one process's heap decides the number.
"""

from __future__ import annotations

import asyncio
import gc
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agentflow_nb import END, START, AgentState, Command, FileCheckpointer, Message, StateGraph  # noqa: E402
from agentflow_nb.checkpointer import InMemoryCheckpointer  # noqa: E402
from bench.harness import steady_per_step  # noqa: E402

MS = 1e3
US = 1e6
CLOCK = time.process_time  # the clock of the growth stamps (see `growth_by_form`)
FORMS = ("dict", "Message", "list", "str", "state", "Command")
FRAGMENTS = 3_000_000  # small objects made before opening in a fragmented heap (a third kept)
PROCESSES = 5  # new processes an opening comparison runs in (see `open_times_apart`)


def timed(run: Callable[[], object]) -> float:
    """Seconds `run` takes, after a full collection; what it returns is freed after the clock
    stops (opening is measured, not dropping what was opened), for every store alike."""
    gc.collect()
    start = time.perf_counter()
    result = run()
    elapsed = time.perf_counter() - start
    del result
    return elapsed


# -- opening a long thread ----------------------------------------------------------------------


def _ours_thread(folder: Path, size: int) -> Callable[[], object]:
    """A file thread of `size` messages (and a few steps after them); returns how to open it cold."""
    graph = StateGraph()
    graph.add_node("TALK", lambda s: Message.text_message("one more line of the conversation", role="assistant"))
    app = graph.compile(checkpointer=FileCheckpointer(folder))
    config = {"thread_id": "long"}
    app.invoke({"messages": [Message.text_message(f"earlier message {i}") for i in range(size - 19)]}, config)
    for _ in range(9):  # nine more steps: a snapshot and deltas to read, as in a real thread
        app.invoke({"messages": [Message.text_message("and more")]}, config)

    def open_cold() -> object:  # a new store and graph, as a new process would have
        state = graph.compile(checkpointer=FileCheckpointer(folder)).get_state(config).state
        assert len(state.messages) == size, len(state.messages)
        return state

    return open_cold


def _langgraph_thread(folder: Path, size: int) -> Callable[[], object]:
    from langchain_core.messages import AIMessage, HumanMessage
    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.graph import StateGraph as LGStateGraph

    from bench.langgraph_peer import Chat

    graph = LGStateGraph(Chat)
    graph.add_node("talk", lambda s: {"messages": [AIMessage("one more line of the conversation")]})
    graph.add_edge(START, "talk")
    graph.add_edge("talk", END)
    path = str(folder / "checkpoints.sqlite")
    config = {"configurable": {"thread_id": "long"}}
    app = graph.compile(checkpointer=SqliteSaver(sqlite3.connect(path, check_same_thread=False)))
    app.invoke({"messages": [HumanMessage(f"earlier message {i}") for i in range(size - 9)]}, config)
    for _ in range(4):
        app.invoke({"messages": [HumanMessage("and more")]}, config)

    def open_cold() -> object:
        connection = sqlite3.connect(path, check_same_thread=False)
        try:
            values = graph.compile(checkpointer=SqliteSaver(connection)).get_state(config).values
        finally:
            connection.close()
        assert len(values["messages"]) == size, len(values["messages"])
        return values

    return open_cold


def open_times(size: int = 10_000, repeats: int = 9) -> tuple[float, float]:
    """Seconds to open a `size`-message thread: ours (JSONL file) and LangGraph (SqliteSaver)."""
    folder = Path(tempfile.mkdtemp(prefix="bench-open-"))
    try:
        ours = _ours_thread(folder / "ours", size)
        theirs = _langgraph_thread(folder, size)
        ours(), theirs()  # warm up
        samples: dict[str, list[float]] = {"ours": [], "theirs": []}
        for _ in range(repeats):
            samples["ours"].append(timed(ours))
            samples["theirs"].append(timed(theirs))
        return statistics.median(samples["ours"]), statistics.median(samples["theirs"])
    finally:
        shutil.rmtree(folder)


def open_times_apart(size: int = 10_000, repeats: int = 9, fragments: int = 0,
                     processes: int = PROCESSES) -> tuple[float, float]:
    """`open_times` in new processes, both stores alike: the median over `processes` processes of
    each one's medians. Opening builds tens of thousands of small objects; in a process that ran
    other workloads before (`make bench`'s earlier sections) they land in a heap those left
    fragmented, which costs a store that builds many small objects more than one that spends its
    time elsewhere (see the bench README's storage prose). And one process's number is not
    another's: where its heap and pages land makes ours about 11 or about 17 ms in one process
    and the other, which a single process would report as if it were the store's. With
    `fragments`, each new process first makes a heap like that on purpose (`fragment_heap`)."""
    code = (f"from bench.storage import fragment_heap, open_times; kept = fragment_heap({fragments}); "
            f"print(*open_times({size}, {repeats}))")
    found = []
    for _ in range(processes):
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
        found.append(tuple(map(float, done.stdout.split()[-2:])))
    return statistics.median(o for o, _ in found), statistics.median(t for _, t in found)


def fragment_heap(count: int) -> list[object]:
    """Make `count` small objects of mixed kinds and keep a third of them, chosen at random: a
    heap whose free blocks are scattered over every arena, as a long-lived process has. Returns
    what is kept (the caller holds it)."""
    made: list[object] = []
    for i in range(count):
        kind = i % 5
        made.append({} if kind == 0 else [i] if kind == 1 else str(i) * (1 + i % 7) if kind == 2
                    else (i, i) if kind == 3 else {i: i})
    random.Random(5).shuffle(made)
    kept = made[: count // 3]
    del made
    gc.collect()
    return kept


def open_big(size: int = 100_000, repeats: int = 3) -> float:
    """Seconds to open a 100,000-message file thread."""
    folder = Path(tempfile.mkdtemp(prefix="bench-open-big-"))
    try:
        run = _ours_thread(folder, size)
        return statistics.median(timed(run) for _ in range(repeats))
    finally:
        shutil.rmtree(folder)


def open_by_line_size(megabytes: tuple[int, ...] = (1, 10, 50), repeats: int = 3) -> dict[int, float]:
    """Seconds to open a thread whose last line holds one message of N MB: linear in bytes read?"""
    out = {}
    for mb in megabytes:
        folder = Path(tempfile.mkdtemp(prefix="bench-line-"))
        try:
            graph = StateGraph()
            graph.add_node("WRITE", lambda s, mb=mb: Message.text_message("x" * (mb << 20), role="assistant"))
            app = graph.compile(checkpointer=FileCheckpointer(folder))
            app.invoke({"messages": [Message.text_message("go")]}, {"thread_id": "t"})
            size = (folder / "t.jsonl").stat().st_size

            def open_cold(folder: Path = folder, graph: StateGraph = graph) -> object:
                return graph.compile(checkpointer=FileCheckpointer(folder)).get_state({"thread_id": "t"})

            out[mb] = statistics.median(timed(open_cold) for _ in range(repeats)) / size * (1 << 20)
        finally:
            shutil.rmtree(folder)
    return out  # seconds per MiB


# -- history with a limit -----------------------------------------------------------------------


class Count(AgentState):
    counter: int = 0


def history_times(steps: int = 20_000, limits: tuple[int, ...] = (1, 10, 100, 1000), repeats: int = 5) -> dict:
    """Seconds for `get_state_history(limit=N)` of a `steps`-step file thread, from a new store."""
    folder = Path(tempfile.mkdtemp(prefix="bench-history-"))
    try:
        graph = StateGraph(Count)
        graph.add_node("STEP", lambda s: {"counter": s.counter + 1})
        graph.add_edge(START, "STEP")
        graph.add_conditional_edges("STEP", lambda s: "STEP" if s.counter < steps else END)
        graph.compile(checkpointer=FileCheckpointer(folder)).invoke(
            {"counter": 0}, {"thread_id": "h", "recursion_limit": steps + 5})
        out = {}
        for limit in limits:
            def read(limit: int = limit) -> None:
                saver = FileCheckpointer(folder)
                assert len(asyncio.run(saver.alist("h", schema=Count, limit=limit))) == limit
            read()
            out[limit] = statistics.median(timed(read) for _ in range(repeats))
        return out
    finally:
        shutil.rmtree(folder)


# -- growth per node result form ------------------------------------------------------------------


def _node(form: str) -> Callable[[AgentState], object]:
    def node(state: AgentState) -> object:
        message = Message.text_message("one more line of the conversation", role="assistant")
        if form == "dict":
            return {"messages": [message]}
        if form == "Message":
            return message
        if form == "list":
            return [message]
        if form == "str":
            return "one more line of the conversation"
        if form == "state":
            state.messages.append(message)
            return state
        return Command(update={"messages": [message]})

    return node


def growth_by_form(sizes: tuple[int, ...] = (10, 10_000), steps: int = 60, repeats: int = 5) -> dict:
    """CPU seconds per step on a thread already holding `size` messages, per node result form and
    store. The run is single-threaded (a sync `stream` of a plain graph), so this process's CPU
    time is its cost, and other processes on a shared machine do not count in it."""
    out = {}
    for kind in ("memory", "file"):
        for form in FORMS:
            for size in sizes:
                runs = []
                for _ in range(repeats):
                    folder = tempfile.mkdtemp(prefix="bench-growth-")
                    saver = InMemoryCheckpointer() if kind == "memory" else FileCheckpointer(folder)
                    runs.append(steady_per_step(_stamps(saver, form, size, steps)))
                    shutil.rmtree(folder)
                out[(kind, form, size)] = statistics.median(runs)
    return out


def _stamps(saver, form: str, size: int, steps: int) -> list[float]:
    target = [size]
    graph = StateGraph()
    graph.add_node("TALK", _node(form))
    graph.add_edge(START, "TALK")
    graph.add_conditional_edges("TALK", lambda s: "TALK" if len(s.messages) < target[0] else END)
    app = graph.compile(checkpointer=saver)
    config = {"thread_id": "g", "recursion_limit": steps + 5}
    app.invoke({"messages": [Message.text_message(f"earlier message {i}") for i in range(size - 1)]}, config)
    target[0] = size + steps
    stamps = []
    for chunk in app.stream({"messages": [Message.text_message("go on")]}, config):
        if chunk.event_type == "node_end":
            stamps.append(CLOCK())
    return stamps


# -- the report -----------------------------------------------------------------------------------


def measure() -> dict:
    """Every storage number of the report."""
    ours, theirs = open_times_apart()
    return {
        "open": (ours, theirs),
        "open_fragmented": open_times_apart(fragments=FRAGMENTS),
        "open_big": open_big(),
        "per_mib": open_by_line_size(),
        "history": history_times(),
        "growth": growth_by_form(),
    }


def goal_rows(results: dict) -> list[str]:
    """Rows of the goals table for the storage goals."""
    ours, theirs = results["open"]
    rows = [_goal("open a 10,000-message file thread (vs SqliteSaver)", f"{ours / theirs:.2f} of its time",
                  "at most 0.20", ours / theirs <= 0.2),
            _goal("open a 100,000-message file thread", f"{results['open_big'] * MS:.0f} ms", "under 1 s",
                  results["open_big"] < 1)]
    history = results["history"]
    per = {limit: t / limit for limit, t in history.items()}
    rows.append(_goal("`get_state_history(limit=N)` of 20,000 steps, N = 1 to 1,000",
                      f"{history[1] * MS:.1f} to {history[1000] * MS:.0f} ms", "grows with N, not the thread",
                      history[1000] < 1000 * history[1] and per[1000] <= per[10]))
    worst = max(results["growth"][(k, f, 10_000)] / results["growth"][(k, f, 10)]
                for k in ("memory", "file") for f in FORMS)
    rows.append(_goal("growth, every node result form: step at 10,000 messages / at 10", f"at most {worst:.2f}x",
                      "within 2x", worst <= 2))
    return rows


def _goal(label: str, measured: str, target: str, met: bool) -> str:
    return f"| {label} | {measured} | {target} | {'met' if met else 'MISSED'} |"


def section(results: dict, number: int = 7) -> list[str]:
    """The report section, Markdown lines."""
    ours, theirs = results["open"]
    frag_ours, frag_theirs = results["open_fragmented"]
    lines = [f"## {number}. Storage: opening long threads, history with a limit, growth per result form", "",
             "Opening: a new store and graph (as a new process would have; the file is in the OS cache) "
             "load the newest checkpoint of a thread, in new processes (both stores alike, interleaved; "
             f"the median over {PROCESSES} processes of each one's median); the second row first keeps a "
             f"third of {FRAGMENTS:,} small objects, scattered.", "",
             "| thread | agentflow_nb (JSONL) | LangGraph (SqliteSaver) | ours / LangGraph |", "|---|---:|---:|---:|",
             f"| 10,000 messages | {ours * MS:.1f} ms | {theirs * MS:.1f} ms | {ours / theirs:.2f} |",
             f"| 10,000 messages, in a fragmented heap (see the prose) | {frag_ours * MS:.1f} ms | "
             f"{frag_theirs * MS:.1f} ms | {frag_ours / frag_theirs:.2f} |",
             f"| 100,000 messages | {results['open_big'] * MS:.0f} ms | | |", "",
             "A thread whose last line holds one large message (time per MiB of file, so a flat row is "
             "linear in the bytes read):", "", "| last line | ms per MiB |", "|---:|---:|"]
    lines += [f"| {mb} MB | {t * MS:.1f} |" for mb, t in results["per_mib"].items()]
    lines += ["", "`get_state_history(limit=N)` of a 20,000-step file thread, from a new store (ms):", "",
              "| N | ms | ms per checkpoint |", "|---:|---:|---:|"]
    lines += [f"| {limit:,} | {t * MS:.2f} | {t / limit * MS:.3f} |" for limit, t in results["history"].items()]
    lines += ["", "Per-step cost (µs of CPU) when each step appends one message, by what the node returns; a "
              "thread already holding 10 or 10,000 messages, 60 steps, median of 5 runs:", "",
              "| store | node returns | 10 messages | 10,000 | 10,000 / 10 |", "|---|---|---:|---:|---:|"]
    growth = results["growth"]
    for kind in ("memory", "file"):
        for form in FORMS:
            small, large = growth[(kind, form, 10)], growth[(kind, form, 10_000)]
            lines.append(f"| {kind} | {form} | {small * US:.1f} | {large * US:.1f} | {large / small:.2f} |")
    return lines


if __name__ == "__main__":
    found = measure()
    print("\n".join(["| goal | measured | target | |", "|---|---:|---:|---|", *goal_rows(found), "", *section(found)]))
