"""Checkpointers save every step of a thread so runs can pause, resume and travel in time.

Example:
    >>> from agentflow_nb.checkpointer import InMemoryCheckpointer
    >>> saver = InMemoryCheckpointer()
"""

from __future__ import annotations

from agentflow_nb.checkpointer.base import BaseCheckpointer, Checkpoint, StateChanges
from agentflow_nb.checkpointer.file import CheckpointWarning, FileCheckpointer
from agentflow_nb.checkpointer.memory import InMemoryCheckpointer
from agentflow_nb.checkpointer.pg import PgCheckpointer
from agentflow_nb.checkpointer.records import UnsafeRecordError

__all__ = [
    "BaseCheckpointer",
    "Checkpoint",
    "CheckpointWarning",
    "FileCheckpointer",
    "InMemoryCheckpointer",
    "PgCheckpointer",
    "StateChanges",
    "UnsafeRecordError",
]
