"""Build and run agent graphs: `StateGraph`, `CompiledGraph`, `START`, `END`, `Command`.

Example: a router picks the next node from the state.
    >>> from agentflow_nb.graph import END, START, StateGraph
    >>> graph = StateGraph()
    >>> graph = graph.add_node("TRIAGE", lambda state: None).add_node("ESCALATE", lambda state: "escalated")
    >>> graph = graph.add_edge(START, "TRIAGE").add_edge("ESCALATE", END)
    >>> urgent = lambda state: "ESCALATE" if "urgent" in state.messages[-1].content else END
    >>> app = graph.add_conditional_edges("TRIAGE", urgent).compile()
    >>> result = app.invoke({"messages": [{"content": "urgent: refund"}]}, {"thread_id": "t1"})
    >>> [m.content for m in result["messages"]]
    ['urgent: refund', 'escalated']
    >>> app.invoke({"messages": [{"content": "hello"}]}, {"thread_id": "t2"})["current_node"]
    'TRIAGE'
"""

from __future__ import annotations

from agentflow_nb.errors import (
    AgentflowError,
    GraphError,
    GraphRecursionError,
    NodeError,
    ThreadBusyError,
    UnknownFieldError,
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
    "UnknownFieldError",
    "UnknownThreadError",
    "join_path",
    "split_path",
]
