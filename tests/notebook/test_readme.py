"""The README's debugger snippet runs as written, on the README's own Quick start graph."""

from __future__ import annotations

import re
from pathlib import Path

from IPython.testing import globalipapp

from agentflow_nb.notebook import Debugger, SessionStatus

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def block_after(heading: str) -> str:
    section = README[README.index(heading):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_debugger_snippet_runs_on_the_quick_start_graph():
    shell = globalipapp.get_ipython()
    quick_start = shell.run_cell(block_after("## Quick start"))
    assert quick_start.success, quick_start.error_in_exec
    snippet = shell.run_cell(block_after("## The debugger"))
    assert snippet.success, snippet.error_in_exec
    ui = shell.user_ns["ui"]
    assert isinstance(ui, Debugger) and ui.session.wait() == SessionStatus.PAUSED
    assert (ui.graph.current, ui.graph.phase) == ("PAY", "before")
    assert ui.session.state.amount == 30 and set(ui.session.app.nodes) == {"ASSESS", "PAY"}
