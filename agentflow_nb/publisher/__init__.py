"""Publishers receive every event of a run: logging, monitoring, UIs.

Example: one line per event of a run.
    >>> from agentflow_nb.graph import StateGraph
    >>> from agentflow_nb.publisher import ConsolePublisher
    >>> app = StateGraph().add_node("GREET", lambda state: "hello").compile(publisher=ConsolePublisher())
    >>> _ = app.invoke({"messages": []}, {"thread_id": "t"})
    [t] step 0 start [running]
    [t] step 0 node_start GREET [running]: GREET started
    [t] step 1 node_end GREET [completed]: GREET finished
    [t] step 1 completed GREET [completed]: completed at step 1
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from agentflow_nb.publisher.events import EventModel, EventType

__all__ = ["BasePublisher", "ConsolePublisher", "EventModel", "EventType", "format_event"]


class BasePublisher:
    """Subclass and override `publish`; it may be a plain method or a coroutine function.

    A publisher that raises is logged and the run goes on.
    """

    def publish(self, event: EventModel) -> Any:
        """Receive one event."""
        return None


def format_event(event: EventModel) -> str:
    """One readable line for an event."""
    where = f" {event.node_name}" if event.node_name else ""
    status = event.metadata.get("status")
    tail = f" [{status}]" if status else ""
    text = f": {event.content}" if event.content else ""
    return f"[{event.thread_id}] step {event.step} {event.event_type.value}{where}{tail}{text}"


class ConsolePublisher(BasePublisher):
    """Prints one line per event (to `stream`, default standard output)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def publish(self, event: EventModel) -> None:
        """Print the event as one line."""
        print(format_event(event), file=self._stream or sys.stdout, flush=True)
