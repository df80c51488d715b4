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

from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from agentflow_nb import _sync
from agentflow_nb.checkpointer import (
    BaseCheckpointer,
    Checkpoint,
    CheckpointCorruptError,
    CheckpointWarning,
    FileCheckpointer,
    InMemoryCheckpointer,
    PgCheckpointer,
    UnsafeFileError,
    UnsafeRecordError,
    UnsaveableValueError,
)
from agentflow_nb.errors import ThreadConflictError
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
T = TypeVar("T")


def run_in_background(coro: Coroutine[Any, Any, T]) -> Future[T]:
    """Run `coro` on the background event loop the sync calls use, and return at once.

    The returned `concurrent.futures.Future` has its result; `asyncio.wrap_future` makes it
    awaitable. Cells stay free while the work goes on, which is how the notebook debugger runs.

    Example:
        >>> from agentflow_nb import run_in_background
        >>> async def answer():
        ...     return 42
        >>> run_in_background(answer()).result(timeout=10)
        42
    """
    return _sync.submit(coro)


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
    "PgCheckpointer",
    "StateGraph",
    "StreamChunk",
    "StreamEventType",
    "ThreadBusyError",
    "ThreadConflictError",
    "UnknownFieldError",
    "UnknownThreadError",
    "UnsafeFileError",
    "UnsafeRecordError",
    "UnsaveableValueError",
    "load_ipython_extension",
    "run_in_background",
    "unload_ipython_extension",
]
