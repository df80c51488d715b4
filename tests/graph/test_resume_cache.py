"""A resume reuses the state its graph's last run left, only while the store confirms that is
still the thread's newest checkpoint: whatever else wrote the thread is always seen."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from agentflow_nb import END, START, AgentState, FileCheckpointer, InMemoryCheckpointer, Message, StateGraph
from agentflow_nb.checkpointer.base import BaseCheckpointer
from agentflow_nb.graph import compiled

ROOT = Path(__file__).resolve().parents[2]


class Count(AgentState):
    counter: int = 0
    seen: list[int] = []


def build(checkpointer: BaseCheckpointer):
    """A loop that pauses after every step."""
    graph = StateGraph(Count)
    graph.add_node("STEP", lambda s: {"counter": s.counter + 1, "seen": [*s.seen, s.counter]})
    graph.add_edge(START, "STEP")
    graph.add_conditional_edges("STEP", lambda s: "STEP" if s.counter < 1000 else END, {"STEP": "STEP", END: END})
    return graph.compile(checkpointer=checkpointer, interrupt_after=["STEP"])


CHILD = textwrap.dedent("""
    import sys
    from agentflow_nb import FileCheckpointer
    from tests.graph.test_resume_cache import build
    app = build(FileCheckpointer(sys.argv[1]))
    config = {"thread_id": "t"}
    if sys.argv[2] == "edit":
        app.update_state(config, {"counter": 100})
    else:
        app.invoke({}, config)
    print(app.get_state(config).state.counter)
""")


def child(folder: Path, what: str) -> int:
    done = subprocess.run([sys.executable, "-c", CHILD, str(folder), what], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=True)
    return int(done.stdout.split()[-1])


@pytest.mark.parametrize("what, written, then", [("edit", 100, 101), ("run", 3, 4)])
def test_another_process_writing_the_thread_between_pause_and_resume_is_seen(tmp_path, what, written, then):
    app = build(FileCheckpointer(tmp_path))
    config = {"thread_id": "t"}
    assert app.invoke({"counter": 0}, config)["state"].counter == 1
    assert app.invoke({}, config)["state"].counter == 2  # this process's own pause, resumed
    assert child(tmp_path, what) == written  # another process edits the thread, or runs a step of it
    result = app.invoke({}, config)
    assert result["state"].counter == then
    assert app.get_state(config).state.counter == then
    reread = build(FileCheckpointer(tmp_path)).get_state(config)
    assert reread.checkpoint_id == result["checkpoint_id"] and reread.state.counter == then


def test_a_thread_file_put_back_as_it_was_is_seen(tmp_path):
    app = build(FileCheckpointer(tmp_path))
    config = {"thread_id": "t"}
    app.invoke({"counter": 0}, config)
    file = next(tmp_path.glob("*.jsonl"))
    earlier = tmp_path / "earlier"
    shutil.copyfile(file, earlier)
    app.invoke({}, config)
    app.invoke({}, config)
    shutil.copyfile(earlier, file)  # the same file (inode), written back by hand
    assert app.invoke({}, config)["state"].counter == 2


def test_another_graph_on_the_same_store_is_seen():
    store = InMemoryCheckpointer()
    app, other = build(store), build(store)
    config = {"thread_id": "t"}
    app.invoke({"counter": 0}, config)
    other.update_state(config, {"counter": 50})
    assert app.invoke({}, config)["state"].counter == 51
    other.invoke({}, config)  # 52, by the other graph
    assert app.invoke({}, config)["state"].counter == 53


def test_another_store_on_the_same_folder_in_this_process_is_seen(tmp_path):
    app, other = build(FileCheckpointer(tmp_path)), build(FileCheckpointer(tmp_path))
    config = {"thread_id": "t"}
    app.invoke({"counter": 0}, config)
    other.update_state(config, {"counter": 7})
    assert app.invoke({}, config)["state"].counter == 8


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_changing_a_result_state_changes_nothing_saved_or_resumed(tmp_path, kind):
    app = build(InMemoryCheckpointer() if kind == "memory" else FileCheckpointer(tmp_path))
    config = {"thread_id": "t"}
    result = app.invoke({"counter": 0}, config)
    result["state"].counter = 999  # the caller's object: the thread must not see this
    result["state"].seen.append(999)
    result["state"].execution_meta.step = 999
    loaded = app.get_state(config).state
    loaded.seen.append(998)  # nor a loaded copy changed
    resumed = app.invoke({}, config)["state"]
    assert resumed.counter == 2 and resumed.seen == [0, 1] and resumed.execution_meta.step == 2
    assert app.get_state(config).state.seen == [0, 1]


def test_time_travel_still_loads_the_checkpoint_named(tmp_path):
    app = build(FileCheckpointer(tmp_path))
    config = {"thread_id": "t"}
    first = app.invoke({"counter": 0}, config)["checkpoint_id"]
    app.invoke({}, config)
    assert app.get_state({**config, "checkpoint_id": first}).state.counter == 1
    assert app.get_state(config).state.counter == 2


def test_the_store_says_the_head_only_when_it_knows_it(tmp_path):
    store = FileCheckpointer(tmp_path)
    app = build(store)
    config = {"thread_id": "t"}
    result = app.invoke({"counter": 0}, config)
    assert app.get_state(config).checkpoint_id == result["checkpoint_id"]
    assert asyncio.run(store.ahead("t")) == result["checkpoint_id"]
    file = next(tmp_path.glob("*.jsonl"))
    stat = file.stat()
    os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # touched: the store no longer vouches for it
    assert asyncio.run(store.ahead("t")) is None
    assert asyncio.run(FileCheckpointer(tmp_path).ahead("t")) is None  # a store that wrote nothing
    assert asyncio.run(InMemoryCheckpointer().ahead("t")) is None


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_editing_a_returned_messages_metadata_changes_nothing_saved_or_resumed(tmp_path, kind):
    graph = StateGraph(AgentState)
    graph.add_node("A", lambda s: Message.text_message("a", role="assistant", tag="orig", notes=["n"]))
    graph.add_node("B", lambda s: None)
    graph.add_edge(START, "A").add_edge("A", "B").add_edge("B", END)
    app = graph.compile(checkpointer=InMemoryCheckpointer() if kind == "memory" else FileCheckpointer(tmp_path),
                        interrupt_after=["A"])
    config = {"thread_id": "t"}
    said = app.invoke({"messages": [Message.text_message("hi")]}, config)["messages"][-1]
    said.metadata["tag"] = "changed"  # messages are frozen, their metadata dicts are not
    said.metadata["notes"].append("more")
    resumed = app.invoke({}, config)["messages"][-1]
    assert resumed.metadata == {"tag": "orig", "notes": ["n"]}
    assert app.get_state(config).state.messages[-1].metadata == {"tag": "orig", "notes": ["n"]}


class CountingLoads(InMemoryCheckpointer):
    """Counts the loads that decode a checkpoint (`aget`)."""

    def __init__(self) -> None:
        super().__init__()
        self.loads = 0

    async def aget(self, *args, **kwargs):
        self.loads += 1
        return await super().aget(*args, **kwargs)


def test_a_run_that_saves_nothing_keeps_the_kept_state():
    store = CountingLoads()
    graph = StateGraph(Count)
    graph.add_node("STEP", lambda s: {"counter": s.counter + 1})
    graph.add_edge(START, "STEP").add_edge("STEP", END)
    app = graph.compile(checkpointer=store)
    config = {"thread_id": "t"}
    assert app.invoke({"counter": 0}, config)["status"] == "completed"
    loads = store.loads
    assert app.invoke({}, config)["state"].counter == 1  # completed already: nothing run, nothing saved
    assert app.invoke({"counter": 5}, config)["state"].counter == 6  # starts again from the kept state
    assert store.loads == loads
    store.loads = 0
    other = graph.compile(checkpointer=store)  # another graph on the store: it still loads
    assert other.invoke({"counter": 10}, config)["state"].counter == 11
    assert store.loads == 1
    assert app.invoke({}, config)["state"].counter == 11  # the kept state is no longer the newest: loaded
    assert store.loads == 2


class Watched(dict):
    """The resume cache of a graph, watched: its size after every entry added, and a chance for
    another thread to run after each change."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def __setitem__(self, key, value) -> None:
        super().__setitem__(key, value)
        self.sizes.append(len(self))
        time.sleep(0)  # give the GIL away: no wait, only a chance for another thread to run

    def __delitem__(self, key) -> None:
        super().__delitem__(key)
        time.sleep(0)


def test_runs_of_one_graph_in_several_os_threads_keep_the_cache_bounded(monkeypatch):
    monkeypatch.setattr(compiled, "KEPT", 3)
    app = build(InMemoryCheckpointer())
    watched = app._kept = Watched()
    failures: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(20):
                config = {"thread_id": f"w{worker}-{i % 5}"}
                first = app.invoke({"counter": 0}, config)["state"].counter if i < 5 else None
                assert first in (None, 1)
                app.invoke({}, config)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    assert not failures, failures
    assert watched.sizes and max(watched.sizes) <= 3
    for worker in range(6):
        for t in range(5):
            assert app.get_state({"thread_id": f"w{worker}-{t}"}).state.counter == 5
