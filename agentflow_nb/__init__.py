"""agentflow_nb: human-in-the-loop agent graphs you can debug inside Jupyter.

Example: pause before a sensitive node, approve with an edit, resume.
    >>> from agentflow_nb import END, START, AgentState, StateGraph
    >>> class Refund(AgentState):
    ...     approved: bool = False
    ...     paid: bool = False
    >>> graph = StateGraph(Refund).add_node("PAY", lambda state: {"paid": state.approved})
    >>> app = graph.add_edge(START, "PAY").add_edge("PAY", END).compile(interrupt_before=["PAY"])
    >>> config = {"thread_id": "refund-1"}
    >>> app.invoke({"messages": []}, config)["interrupt_reason"]
    'interrupt_before: PAY'
    >>> app.update_state(config, {"approved": True}).source
    'edit'
    >>> app.invoke({}, config)["state"].paid
    True
"""

from __future__ import annotations

from typing import Any

from agentflow_nb.checkpointer import (
    BaseCheckpointer,
    Checkpoint,
    CheckpointCorruptError,
    CheckpointWarning,
    FileCheckpointer,
    InMemoryCheckpointer,
    UnsafeFileError,
    UnsafeRecordError,
    UnsaveableValueError,
)
from agentflow_nb.graph import (
    END,
    START,
    AgentflowError,
    Command,
    CompiledGraph,
    GraphError,
    GraphRecursionError,
    GraphRun,
    NodeError,
    StateGraph,
    StreamChunk,
    StreamEventType,
    ThreadBusyError,
    UnknownFieldError,
    UnknownThreadError,
)
from agentflow_nb.publisher import BasePublisher, ConsolePublisher
from agentflow_nb.publisher.events import EventModel, EventType
from agentflow_nb.state import AgentState, ExecutionMeta, ExecutionStatus, Message

__version__ = "0.1.0"


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext agentflow_nb`: register the `%agentflow` magic (imports the notebook layer)."""
    from agentflow_nb.notebook.magic import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """`%unload_ext agentflow_nb`."""
    from agentflow_nb.notebook.magic import unload_ipython_extension as unload

    unload(ipython)


__all__ = [
    "END",
    "START",
    "AgentState",
    "AgentflowError",
    "BaseCheckpointer",
    "BasePublisher",
    "Checkpoint",
    "CheckpointCorruptError",
    "CheckpointWarning",
    "Command",
    "CompiledGraph",
    "ConsolePublisher",
    "EventModel",
    "EventType",
    "ExecutionMeta",
    "ExecutionStatus",
    "FileCheckpointer",
    "GraphError",
    "GraphRecursionError",
    "GraphRun",
    "InMemoryCheckpointer",
    "Message",
    "NodeError",
    "StateGraph",
    "StreamChunk",
    "StreamEventType",
    "ThreadBusyError",
    "UnknownFieldError",
    "UnknownThreadError",
    "UnsafeFileError",
    "UnsafeRecordError",
    "UnsaveableValueError",
    "load_ipython_extension",
    "unload_ipython_extension",
]
