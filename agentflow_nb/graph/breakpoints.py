"""Where a run pauses: before/after nodes, optionally only when a condition on the state holds,
and after single steps (into, over or out of subgraphs)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from agentflow_nb.state import AgentState

if TYPE_CHECKING:
    from agentflow_nb.graph.compiled import CompiledGraph

__all__ = ["Breakpoints", "Condition", "StepMode", "step_mode"]

Condition = Callable[[AgentState], Any]
Spec = Iterable[str] | Mapping[str, Condition | None]
StepMode = Literal["into", "over", "out"]
_MODES = ("into", "over", "out")


def step_mode(value: object) -> StepMode | None:
    """`config["step"]` as a mode: `True` is `"over"`; `False`/None: no stepping.

    >>> step_mode(True), step_mode("into"), step_mode(None)
    ('over', 'into', None)
    """
    if value is None or value is False:
        return None
    if value is True:
        return "over"
    if value in _MODES:
        return value  # type: ignore[return-value]
    raise ValueError(
        f"config['step'] must be True (same as 'over'), 'into', 'over' or 'out'; got `{value!r}`"
    )


@dataclass(frozen=True)
class Breakpoints:
    """Breakpoints of one run, by node path (`"WRITER/REVIEW"` for a node inside a subgraph).
    A path maps to a condition on the state of the graph that node is in, or None to always break.

    `step` pauses at the next step boundary (the debugger's Step buttons): `"into"` after the
    next node at any depth, or before the first node of a subgraph it enters; `"over"` after the
    next node at the depth the run started at or above (a subgraph runs whole); `"out"` after
    the subgraph the run started in ends.
    """

    before: Mapping[str, Condition | None] = field(default_factory=dict)
    after: Mapping[str, Condition | None] = field(default_factory=dict)
    step: StepMode | None = None

    @classmethod
    def build(cls, graph: CompiledGraph, before: Spec, after: Spec, step: object = None) -> Breakpoints:
        """Check node paths against `graph`; raises `GraphError` naming an unknown one."""
        return cls(_spec(graph, "interrupt_before", before), _spec(graph, "interrupt_after", after),
                   step_mode(step))

    @property
    def empty(self) -> bool:
        """No breakpoint and no stepping: then only a stop or a node's own request can pause a run."""
        return not self.before and not self.after and self.step is None

    def fires_before(self, node: str, state: AgentState) -> bool:
        """Whether to pause before `node` runs on `state`."""
        return _fires(self.before, node, state)

    def fires_after(self, node: str, state: AgentState) -> bool:
        """Whether a breakpoint pauses after `node` produced `state` (stepping aside)."""
        return _fires(self.after, node, state)

    def steps_after(self, depth: int, start: int) -> bool:
        """Whether stepping pauses after a node that ran at `depth`, for a run started at `start`."""
        if self.step is None:
            return False
        if self.step == "into":
            return True
        return depth <= start if self.step == "over" else depth < start

    def steps_into(self) -> bool:
        """Whether stepping pauses before the first node of a subgraph the run enters."""
        return self.step == "into"


def _spec(graph: CompiledGraph, what: str, spec: Spec) -> dict[str, Condition | None]:
    items = dict(spec) if isinstance(spec, Mapping) else dict.fromkeys(graph.check_names(what, spec))
    graph.check_names(what, items)
    for name, condition in items.items():
        if condition is not None and not callable(condition):
            raise TypeError(
                f"the {what} condition for `{name}` must be a function of the state, "
                f"got a `{type(condition).__name__}`"
            )
    return items


def _fires(points: Mapping[str, Condition | None], node: str, state: AgentState) -> bool:
    if node not in points:
        return False
    condition = points[node]
    return condition is None or bool(condition(state))
