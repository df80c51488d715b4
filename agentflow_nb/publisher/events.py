"""The events a compiled graph publishes while it runs.

Example:
    >>> from agentflow_nb.publisher.events import EventModel, EventType
    >>> EventModel(event_type=EventType.START, thread_id="t").event_type
    <EventType.START: 'start'>
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
