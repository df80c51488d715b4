"""Build and run agent graphs: `StateGraph`, `CompiledGraph`, `START`, `END`, `Command`.

Example:
    >>> from agentflow_nb.graph import END, START, StateGraph
"""

from __future__ import annotations

from agentflow_nb.errors import (
    AgentflowError,
    GraphError,
    GraphRecursionError,
    NodeError,
    ThreadBusyError,
    UnknownThreadError,
)
from agentflow_nb.graph.breakpoints import Breakpoints
from agentflow_nb.graph.chunks import StreamChunk, StreamEventType
from agentflow_nb.graph.command import END, START, Command
from agentflow_nb.graph.compiled import CompiledGraph
from agentflow_nb.graph.frames import Frame
from agentflow_nb.graph.paths import join_path, split_path
from agentflow_nb.graph.run import GraphRun
from agentflow_nb.graph.state_graph import StateGraph
from agentflow_nb.graph.subgraph import Subgraph

__all__ = [
    "END",
    "START",
    "AgentflowError",
    "Breakpoints",
    "Command",
    "CompiledGraph",
    "Frame",
    "GraphError",
    "GraphRecursionError",
    "GraphRun",
    "NodeError",
    "StateGraph",
    "StreamChunk",
    "StreamEventType",
    "Subgraph",
    "ThreadBusyError",
    "UnknownThreadError",
    "join_path",
    "split_path",
]
