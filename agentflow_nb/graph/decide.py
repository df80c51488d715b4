"""Whether a run pauses at a node boundary: `decide`, the one place that says so.

`GraphRun` (`agentflow_nb.graph.run`) calls it at every boundary that has something to decide
(a breakpoint, stepping, a stop request, a node's own `set_interrupt`) with an `Outcome`, and
pauses when it returns a `Pause`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, NamedTuple

from agentflow_nb.errors import NodeError
from agentflow_nb.graph.breakpoints import Breakpoints, Condition
from agentflow_nb.state import AgentState, ExecutionMeta

__all__ = ["Outcome", "Pause", "decide"]


class Outcome(NamedTuple):
    """A node boundary: everything `decide` looks at.

    Attributes:
        after: False before the node at `path` runs; True once it (or the subgraph there) ran.
        path: the node's path (`"WRITER/REVIEW"` inside subgraph `WRITER`).
        state: the state breakpoint conditions see: the one the node gets, or the one it left.
        depth: how many subgraphs deep the node is.
        entered: (before) the node is the first of a subgraph the run just entered.
        resumed: (before) the run was paused right here: its breakpoint does not fire again.
        stop: (before) a stop was requested (`stop()`, Ctrl-C).
        request: (after) the pause the node asked for with `set_interrupt`, if any.
    """

    after: bool
    path: str
    state: AgentState
    depth: int = 0
    entered: bool = False
    resumed: bool = False
    stop: bool = False
    request: ExecutionMeta | None = None


class Pause(NamedTuple):
    """Why a run pauses: `kind` is what the `interrupted` event's data says (`"before"`,
    `"after"`, `"node"`: the node asked, `"stop"`), `reason` its `interrupt_reason`."""

    kind: Literal["before", "after", "node", "stop"]
    reason: str


def decide(at: Outcome, breakpoints: Breakpoints, start_depth: int = 0) -> Pause | None:
    """Whether a run pauses at a node boundary, and why; None: go on.

    Before a node: its `interrupt_before` breakpoint (not when the run resumes from that very
    pause), stepping into a subgraph, then a requested stop. After a node: its own
    `set_interrupt`, then its `interrupt_after` breakpoint and stepping (`config["step"]`,
    `start_depth` being how deep the run started).

    Raises:
        NodeError: a breakpoint's condition raised (the run then ends in `ERROR`).
    """
    path = at.path
    if not at.after:
        if not at.resumed:
            if _holds(breakpoints.before, at):
                return Pause("before", f"interrupt_before: {path}")
            if at.entered and breakpoints.steps_into():
                return Pause("before", f"step: {path}")
        return Pause("stop", "stop requested") if at.stop else None
    if at.request is not None:
        return Pause("node", at.request.interrupt_reason or f"{path} asked to pause")
    fired = _holds(breakpoints.after, at)
    if breakpoints.step is not None and breakpoints.steps_after(at.depth, start_depth):
        return Pause("after", f"step: {path}")
    return Pause("after", f"interrupt_after: {path}") if fired else None


def _holds(points: Mapping[str, Condition | None], at: Outcome) -> bool:
    """Whether a breakpoint in `points` fires at `at`; its condition's exception becomes a
    `NodeError`."""
    if at.path not in points:
        return False
    condition = points[at.path]
    if condition is None:
        return True
    try:
        return bool(condition(at.state))
    except Exception as exc:
        error = NodeError(
            f"the breakpoint condition on `{at.path}` raised {type(exc).__name__}: {exc}",
            node=at.path, thread_id=at.state.execution_meta.thread_id,
        )
        raise error from exc
