"""A sync call of a plain graph starts its run right in the calling thread's first step (no turn
of the event loop while nothing awaits): everything a run sees of asyncio is as on a turn of the
loop, and a run that does await, or leaves tasks behind, goes on on the loop as before."""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import weakref

import pytest

from agentflow_nb import ExecutionStatus, InMemoryCheckpointer, StateGraph, _sync
from agentflow_nb.checkpointer.base import Checkpoint, StateChanges

S = ExecutionStatus


@pytest.fixture(params=["first step here", "loop turns only"])
def first_step(request, monkeypatch):
    """Each test twice: as sync calls run now, and with every step run by the loop's own turns
    (a loop without a ready queue to take the first step from, as uvloop's): both must agree."""
    if request.param == "loop turns only":
        monkeypatch.setattr(_sync._KeptRunner, "ready", None, raising=False)
        original = _sync._KeptRunner.__init__

        def no_queue(self):
            original(self)
            self.ready = None

        monkeypatch.setattr(_sync._KeptRunner, "__init__", no_queue)
    # every test starts from a new private loop in this thread
    kept = getattr(_sync._kept, "runner", None)
    if kept is not None:
        kept.runner.close()
        _sync._kept.runner = None
    return request.param


def one_node_app(node, **compile_kwargs):
    graph = StateGraph()
    graph.add_node("ONLY", node)
    return graph.compile(**compile_kwargs)


def test_a_node_sees_a_running_loop_and_a_current_task(first_step):
    seen = []

    def node(state):
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        seen.append((loop, loop.is_running(), task is not None and not task.done(), _sync.blocking_ok(), _sync.free()))

    app = one_node_app(node)
    hooks = sys.get_asyncgen_hooks()
    for thread in ("a", "b"):
        assert app.invoke({"messages": []}, config={"thread_id": thread})["status"] is S.COMPLETED
    (first_loop, running, in_a_task, blocking_ok, free), second = seen
    assert running and in_a_task and blocking_ok and not free
    assert second[0] is first_loop  # the thread's private loop, kept
    assert first_loop in _sync._private_loops
    # all of it undone once the call is over
    assert asyncio._get_running_loop() is None and not first_loop.is_running()
    assert sys.get_asyncgen_hooks() == hooks


def test_a_node_cannot_run_another_loop_in_the_run(first_step):
    def node(state):
        coro = asyncio.sleep(0)
        try:
            asyncio.run(coro)
        except RuntimeError as exc:
            return {"refused": str(exc)}
        finally:
            coro.close()
        return {"refused": ""}

    result = one_node_app(node).invoke({"messages": []}, config={"thread_id": "t"})
    assert "cannot be called from a running event loop" in result["state"].refused


def test_a_task_a_node_starts_runs_as_on_the_loop(first_step):
    steps = []

    async def background():
        steps.append("first")
        await asyncio.sleep(0)
        steps.append("second")

    def node(state):
        asyncio.get_running_loop().create_task(background())

    app = one_node_app(node)
    app.invoke({"messages": []}, config={"thread_id": "t1"})
    # as on the loop: the task's first step ran before the call returned, the rest waits for
    # the loop's next turn, which the next sync call of this thread gives it
    assert steps == ["first"]
    app.invoke({"messages": []}, config={"thread_id": "t2"})
    assert steps == ["first", "second", "first"]


class AwaitingSaver(InMemoryCheckpointer):
    """Any loop will do, but each save awaits (as a store that yields to the loop would), inside
    `asyncio.timeout`, which needs a current task."""

    any_loop = True

    async def aput(self, checkpoint: Checkpoint, *, changes: StateChanges | None = None) -> None:
        async with asyncio.timeout(60):
            await asyncio.sleep(0)
        await super().aput(checkpoint, changes=changes)


def test_a_run_that_awaits_goes_on_on_the_loop(first_step):
    graph = StateGraph()
    graph.add_node("PREPARE", lambda s: {"count": 1})
    graph.add_node("ACT", lambda s: {"count": s.count + 1})
    app = graph.compile(checkpointer=AwaitingSaver(), interrupt_before=["ACT"])
    assert app.plain
    config = {"thread_id": "t"}
    assert app.invoke({"messages": []}, config=config)["interrupted"]
    result = app.invoke({}, config=config)
    assert result["status"] is S.COMPLETED and result["state"].count == 2
    assert asyncio._get_running_loop() is None


def test_an_error_in_the_first_step_leaves_the_thread_free(first_step):
    def node(state):
        raise ValueError("`ONLY` refuses")

    app = one_node_app(node)
    with pytest.raises(Exception, match="refuses"):
        app.invoke({"messages": []}, config={"thread_id": "t"})
    assert asyncio._get_running_loop() is None
    assert app.get_state({"thread_id": "t"}).status is S.ERROR
    # the private loop is still usable, and not marked running in this thread
    loop = _sync._kept.runner.runner.get_loop()
    assert not loop.is_running() and not loop.is_closed()
    done = one_node_app(lambda s: {"ok": True}).invoke({"messages": []}, config={"thread_id": "u"})
    assert done["state"].ok is True


def test_each_thread_runs_on_its_own_private_loop(first_step):
    loops = []  # kept alive: no two can share an id

    def node(state):
        loops.append(asyncio.get_running_loop())

    app = one_node_app(node)

    def call(i):
        app.invoke({"messages": []}, config={"thread_id": f"w{i}"})

    workers = [threading.Thread(target=call, args=(i,)) for i in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert len(loops) == 3 and len(set(map(id, loops))) == 3


def test_a_second_ctrl_c_in_a_node_leaves_no_task_to_complain_later(first_step, caplog):
    tasks = []

    def node(state):
        tasks.append(weakref.ref(asyncio.current_task()))
        if len(tasks) == 1:
            raise KeyboardInterrupt  # what a second Ctrl-C raises inside a running sync node

    app = one_node_app(node)
    with pytest.raises(KeyboardInterrupt):
        app.invoke({"messages": []}, config={"thread_id": "t"})
    gc.collect()
    # the caller got the interrupt: the run's task does not log it again as "never retrieved"
    # when it is finalised (a log made inside whatever the collector interrupted)
    assert tasks and tasks[0]() is None
    assert "never retrieved" not in caplog.text
    assert app.invoke({}, config={"thread_id": "t"})["status"] is S.COMPLETED
