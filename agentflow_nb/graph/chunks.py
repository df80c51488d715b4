"""`StreamChunk`: what `stream`/`astream` yield."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from agentflow_nb.graph.paths import split_path

__all__ = ["StreamChunk", "StreamEventType"]


class StreamEventType(str, Enum):
    """The kind of a stream chunk; compares equal to its plain string (`"interrupted"`)."""

    NODE_START = "node_start"
    NODE_END = "node_end"
    MESSAGE = "message"
    INTERRUPTED = "interrupted"
    STOPPED = "stopped"
    COMPLETED = "completed"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


#: Chunks after which the stream ends.
FINAL = frozenset(
    {StreamEventType.INTERRUPTED, StreamEventType.STOPPED, StreamEventType.COMPLETED, StreamEventType.ERROR}
)


@dataclass(frozen=True)
class StreamChunk:
    """One item of a stream: `event_type`, readable `content`, and where it happened: `node`
    is a node path (`"WRITER/REVIEW"` for a node inside subgraph `WRITER`)."""

    event_type: StreamEventType
    content: str
    thread_id: str
    node: str | None = None
    step: int = 0
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> tuple[str, ...]:
        """`node` as its parts: `("WRITER", "REVIEW")`; `()` when the chunk names no node."""
        return split_path(self.node)

    def __str__(self) -> str:
        return f"[{self.event_type.value}] {self.content}"
