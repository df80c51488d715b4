"""Checkpointers save every step of a thread so runs can pause, resume and travel in time.

Example: every step is a checkpoint; history is newest first.
    >>> from agentflow_nb.checkpointer import InMemoryCheckpointer
    >>> from agentflow_nb.graph import StateGraph
    >>> graph = StateGraph().add_node("A", lambda state: "one").add_node("B", lambda state: "two")
    >>> app = graph.compile(checkpointer=InMemoryCheckpointer())
    >>> _ = app.invoke({"messages": []}, {"thread_id": "t"})
    >>> [(c.step, c.node, len(c.state.messages)) for c in app.get_state_history({"thread_id": "t"})]
    [(2, 'B', 2), (1, 'A', 1), (0, None, 0)]
"""

from __future__ import annotations

from agentflow_nb.checkpointer.base import BaseCheckpointer, Checkpoint, StateChanges
from agentflow_nb.checkpointer.file import CheckpointWarning, FileCheckpointer
from agentflow_nb.checkpointer.memory import InMemoryCheckpointer
from agentflow_nb.checkpointer.pg import PgCheckpointer
from agentflow_nb.checkpointer.records import UnsafeRecordError
from agentflow_nb.errors import CheckpointCorruptError, UnsafeFileError, UnsaveableValueError

__all__ = [
    "BaseCheckpointer",
    "Checkpoint",
    "CheckpointCorruptError",
    "CheckpointWarning",
    "FileCheckpointer",
    "InMemoryCheckpointer",
    "PgCheckpointer",
    "StateChanges",
    "UnsafeFileError",
    "UnsafeRecordError",
    "UnsaveableValueError",
]
