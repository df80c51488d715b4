"""`START`, `END` and `Command`: the words nodes and edges use to say where to go."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["END", "START", "Command"]

START = "__start__"
END = "__end__"


@dataclass(frozen=True)
class Command:
    """Returned by a node: apply `update` (anything a node may return) and go to `goto`.

    Example:
        >>> from agentflow_nb.graph import END, START, StateGraph
        >>> graph = StateGraph().add_node("DECIDE", lambda s: Command(update="go on", goto="ACT"), ends=["ACT"])
        >>> graph = graph.add_node("ACT", lambda s: {"done": True}).add_edge(START, "DECIDE").add_edge("ACT", END)
        >>> result = graph.compile().invoke({"messages": []}, {"thread_id": "t"})
        >>> result["messages"][-1].content, result["state"].done, result["current_node"]
        ('go on', True, 'ACT')
    """

    update: Any = None
    goto: str | None = None
