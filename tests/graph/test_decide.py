"""`decide`: the one place that says whether a run pauses at a node boundary, and why."""

from __future__ import annotations

import pytest

from agentflow_nb.errors import NodeError
from agentflow_nb.graph.breakpoints import Breakpoints
from agentflow_nb.graph.run import Outcome, Pause, decide
from agentflow_nb.state import AgentState, ExecutionMeta, ExecutionStatus


class Ticket(AgentState):
    amount: int = 0


STATE = Ticket(amount=500, execution_meta=ExecutionMeta(thread_id="t"))


def before(path: str = "PAY", **kw) -> Outcome:
    return Outcome(False, path, STATE, **kw)


def after(path: str = "PAY", **kw) -> Outcome:
    return Outcome(True, path, STATE, **kw)


def test_nothing_to_look_at_goes_on():
    none = Breakpoints()
    assert none.empty
    assert decide(before(), none) is None
    assert decide(after(), none) is None


def test_a_breakpoint_before_a_node_pauses_before_it_unless_the_run_resumes_from_that_pause():
    points = Breakpoints(before={"PAY": None})
    assert decide(before(), points) == Pause("before", "interrupt_before: PAY")
    assert decide(before(resumed=True), points) is None
    assert decide(before("ASK"), points) is None
    assert decide(after(), points) is None  # a breakpoint before a node says nothing after it


def test_conditions_see_the_state():
    points = Breakpoints(before={"PAY": lambda s: s.amount > 100}, after={"PAY": lambda s: s.amount > 1000})
    assert decide(before(), points) == Pause("before", "interrupt_before: PAY")
    assert decide(after(), points) is None


def test_a_stop_pauses_before_the_next_node_and_a_breakpoint_there_names_the_pause():
    assert decide(before(stop=True), Breakpoints()) == Pause("stop", "stop requested")
    assert decide(before(stop=True, resumed=True), Breakpoints(before={"PAY": None})) == Pause("stop", "stop requested")
    assert decide(before(stop=True), Breakpoints(before={"PAY": None})).kind == "before"


def test_a_node_that_asked_to_pause_pauses_with_its_own_reason_before_any_breakpoint():
    asked = ExecutionMeta(status=ExecutionStatus.INTERRUPTED_AFTER, interrupt_reason="needs a human")
    points = Breakpoints(after={"PAY": None})
    assert decide(after(request=asked), points) == Pause("node", "needs a human")
    silent = ExecutionMeta(status=ExecutionStatus.INTERRUPTED_BEFORE)
    assert decide(after(request=silent), Breakpoints()) == Pause("node", "PAY asked to pause")


def test_a_breakpoint_after_a_node_and_stepping():
    assert decide(after(), Breakpoints(after={"PAY": None})) == Pause("after", "interrupt_after: PAY")
    over = Breakpoints(step="over")
    assert decide(after(depth=0), over, start_depth=0) == Pause("after", "step: PAY")
    assert decide(after("W/PAY", depth=1), over, start_depth=0) is None  # a subgraph runs whole
    assert decide(after("W/PAY", depth=1), Breakpoints(step="into"), start_depth=0) == Pause("after", "step: W/PAY")
    assert decide(after("W", depth=0), Breakpoints(step="out"), start_depth=1) == Pause("after", "step: W")
    # a breakpoint and a step at once: the step names it
    assert decide(after(), Breakpoints(after={"PAY": None}, step="over")) == Pause("after", "step: PAY")


def test_stepping_into_a_subgraph_pauses_before_its_first_node():
    into = Breakpoints(step="into")
    assert decide(before("W/DRAFT", depth=1, entered=True), into) == Pause("before", "step: W/DRAFT")
    assert decide(before("W/DRAFT", depth=1), into) is None
    assert decide(before("W/DRAFT", depth=1, entered=True), Breakpoints(step="over")) is None


def test_a_condition_that_raises_is_a_node_error_naming_the_breakpoint():
    def broken(state):
        raise KeyError("amount")

    with pytest.raises(NodeError, match=r"breakpoint condition on `PAY` raised KeyError") as caught:
        decide(after(), Breakpoints(after={"PAY": broken}))
    assert caught.value.node == "PAY" and caught.value.thread_id == "t"
    assert isinstance(caught.value.__cause__, KeyError)
