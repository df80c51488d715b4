"""A saved notebook still shows the debugger: the static fallback output (graph + state)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from agentflow_nb.notebook import SessionStatus, debug
from agentflow_nb.notebook.fallback import FALLBACK_CLASS
from tests.notebook.apps import approval_app, first_input

ROOT = Path(__file__).resolve().parents[2]
WIDGET = "application/vnd.jupyter.widget-view+json"


def test_the_fallback_shows_the_graph_at_its_position_and_a_state_summary():
    ui = debug(approval_app(), first_input())
    assert ui.session.wait() == SessionStatus.PAUSED
    bundle = ui.fallback()
    html = bundle["text/html"]
    execute = ui.graph.node_ids["EXECUTE"]
    assert f'<g id="{execute}" class="af_before af_bp_before node' in html  # the same marks as the widget
    assert "<svg" in html and "<style>" in html and "<script" not in html
    assert "paused at EXECUTE, step 1" in html and "<b>amount</b></td><td>50</td>" in html
    assert "analyzed 50" in html and "paused before" in html  # a field's value, the legend
    assert f".jp-OutputArea:has(.af_debugger) .jp-OutputArea-child:has(.{FALLBACK_CLASS})" in html
    assert bundle["text/plain"].startswith("agentflow_nb debugger — thread ")


CELLS = [
    "from agentflow_nb.notebook import debug\nfrom tests.notebook.apps import approval_app, first_input",
    "ui = debug(approval_app(), first_input(), config={'thread_id': 'saved'})\nui",
    "ui.session.wait()\nui.resume()\nprint(ui.session.wait())",
]


def test_a_notebook_run_in_a_real_kernel_saves_the_last_picture_next_to_the_widget(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)
    outputs = nbformat.read(path, as_version=4).cells[1].outputs
    assert [sorted(o.data) for o in outputs] == [[WIDGET, "text/plain"], ["text/html", "text/plain"]]
    html = outputs[1].data["text/html"]
    # updated when the run ended in the third cell: the final position, not the one at display time
    assert "thread saved: completed at FINALIZE, step 3" in html and "<svg" in html
    assert re.search(r'class="[a-z_ ]*\baf_done\b[a-z_ ]* node', html) and "finalized" in html
    assert "completed" in nb.cells[2].outputs[-1].text
