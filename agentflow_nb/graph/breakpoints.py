"""Where a run pauses: before/after nodes, optionally only when a condition on the state holds."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentflow_nb.state import AgentState

if TYPE_CHECKING:
    from agentflow_nb.graph.compiled import CompiledGraph

__all__ = ["Breakpoints", "Condition"]

Condition = Callable[[AgentState], Any]
Spec = Iterable[str] | Mapping[str, Condition | None]


@dataclass(frozen=True)
class Breakpoints:
    """Breakpoints of one run. A node maps to a condition, or None to always break.

    `step=True` pauses after whichever node runs next (the debugger's Step button).
    """

    before: Mapping[str, Condition | None] = field(default_factory=dict)
    after: Mapping[str, Condition | None] = field(default_factory=dict)
    step: bool = False

    @classmethod
    def build(cls, graph: CompiledGraph, before: Spec, after: Spec, step: bool = False) -> Breakpoints:
        """Check node names against the nodes `graph` runs; raises `GraphError` naming an unknown one."""
        return cls(_spec(graph, "interrupt_before", before), _spec(graph, "interrupt_after", after), step)

    def fires_before(self, node: str, state: AgentState) -> bool:
        """Whether to pause before `node` runs on `state`."""
        return _fires(self.before, node, state)

    def fires_after(self, node: str, state: AgentState) -> bool:
        """Whether to pause after `node` produced `state`."""
        return self.step or _fires(self.after, node, state)


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
