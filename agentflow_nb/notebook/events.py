"""`EventEntry`: one line of a debug session's event log, with a kind to filter on."""

from __future__ import annotations

import time
from typing import NamedTuple

from agentflow_nb.graph.chunks import StreamEventType

__all__ = ["KINDS", "EventEntry", "kind_of"]

#: Kinds of log lines, as the filter offers them.
KINDS = ("node", "message", "pause", "end", "edit", "control", "error")

_OF = {
    StreamEventType.NODE_START: "node", StreamEventType.NODE_END: "node",
    StreamEventType.MESSAGE: "message", StreamEventType.INTERRUPTED: "pause",
    StreamEventType.STOPPED: "end", StreamEventType.COMPLETED: "end", StreamEventType.ERROR: "error",
}


def kind_of(event: StreamEventType) -> str:
    """The log kind of a stream event."""
    return _OF[event]


class EventEntry(NamedTuple):
    """A log line: when, at which step, what kind, about which node, and the text."""

    at: float
    step: int
    kind: str
    node: str | None
    text: str

    def __str__(self) -> str:
        clock = time.strftime("%H:%M:%S", time.localtime(self.at))
        return f"{clock} step {self.step:<3} {self.kind:<8} {self.text}"
