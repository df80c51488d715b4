"""The notebook adapter: debug sessions, the graph view, the state inspector, `%agentflow`.

Needs the notebook extras: `pip install "agentflow_nb[notebook]"`.

Example:
    from agentflow_nb.notebook import debug
    ui = debug(app, {"amount": 30, "messages": [Message.text_message("hi")]}, before=["PAY"])
    ui  # show it: the cell's value
"""

from __future__ import annotations

try:
    import anywidget  # noqa: F401
    import ipywidgets  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised by hand without the extras
    raise ImportError(
        f"agentflow_nb.notebook needs {exc.name}: install with `pip install \"agentflow_nb[notebook]\"`"
    ) from exc

from agentflow_nb.notebook.debugger import Debugger, debug
from agentflow_nb.notebook.graph_view import BreakpointPicker, GraphView
from agentflow_nb.notebook.inspector import StateInspector
from agentflow_nb.notebook.magic import AgentflowMagics, load_ipython_extension, unload_ipython_extension
from agentflow_nb.notebook.session import DebugSession
from agentflow_nb.notebook.status import SessionStatus

__all__ = [
    "AgentflowMagics",
    "BreakpointPicker",
    "DebugSession",
    "Debugger",
    "GraphView",
    "SessionStatus",
    "StateInspector",
    "debug",
    "load_ipython_extension",
    "unload_ipython_extension",
]
