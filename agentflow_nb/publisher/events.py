"""The events a compiled graph publishes while it runs.

Example: a publisher that collects the pauses of a run, as a monitor would.
    >>> from agentflow_nb.graph import StateGraph
    >>> from agentflow_nb.publisher import BasePublisher
    >>> from agentflow_nb.publisher.events import EventModel, EventType
    >>> class Pauses(BasePublisher):
    ...     seen = []
    ...     def publish(self, event: EventModel) -> None:
    ...         if event.event_type is EventType.INTERRUPTED:
    ...             self.seen.append((event.node_name, event.data["reason"]))
    >>> graph = StateGraph().add_node("CHECK", lambda s: None).add_node("PAY", lambda s: None)
    >>> app = graph.compile(interrupt_before=["PAY"], publisher=Pauses())
    >>> _ = app.invoke({"messages": []}, {"thread_id": "t"})
    >>> Pauses.seen
    [('PAY', 'interrupt_before: PAY')]
"""

from __future__ import annotations

import time
from enum import Enum
from typing import Any

from pydantic import BaseModel, Field

__all__ = ["EventModel", "EventType"]


class EventType(str, Enum):
    """What happened."""

    START = "start"
    NODE_START = "node_start"
    NODE_END = "node_end"
    INTERRUPTED = "interrupted"
    RESUMED = "resumed"
    STOPPED = "stopped"
    COMPLETED = "completed"
    ERROR = "error"
    STATE_UPDATED = "state_updated"

    def __str__(self) -> str:
        return self.value


class EventModel(BaseModel):
    """One event; every publisher gets a fresh instance.

    For `INTERRUPTED`, `data["interrupted"]` is `"before"`, `"after"`, `"node"` (asked for by a
    node with `set_interrupt`) or `"stop"`, and `data["reason"]` says why. `node_name` is a node
    path: `"WRITER/REVIEW"` for a node inside the subgraph node `WRITER` (`path` splits it).
    """

    event_type: EventType
    node_name: str | None = None
    thread_id: str | None = None
    run_id: str | None = None
    step: int = 0
    timestamp: float = Field(default_factory=time.time)
    content: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def path(self) -> tuple[str, ...]:
        """`node_name` as its parts: `("WRITER", "REVIEW")`; `()` when the event names no node."""
        return tuple(self.node_name.split("/")) if self.node_name else ()
