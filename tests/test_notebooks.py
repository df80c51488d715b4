"""Every teaching notebook runs top to bottom in a real kernel (nbclient), without errors."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import psutil
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_seven_teaching_notebooks():
    assert [p.stem for p in NOTEBOOKS] == [
        "01_approval_workflow", "02_step_through_debugging", "03_stop_and_streaming",
        "04_conditional_escalation", "05_file_checkpoints", "06_events_and_publishers",
        "07_production_postgres",
    ]


def leftovers(folder: Path) -> list[psutil.Process]:
    """Processes a notebook started that still run: its worker (run from `folder`) and its
    PostgreSQL server (whose data folder it wrote to pg-folder.txt)."""
    marks = [str(folder)]
    record = folder / "pg-folder.txt"
    if record.exists():
        marks.append(record.read_text().strip())
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd"]):
        text = " ".join(proc.info["cmdline"] or []) + " " + str(proc.info["cwd"] or "")
        if any(mark in text for mark in marks) and proc.pid != psutil.Process().pid:
            found.append(proc)
    return found


def reap(folder: Path) -> None:
    """Kill whatever a failed notebook left running; then say so by failing."""
    deadline = time.monotonic() + 60  # the kernel's own clean-up (atexit) may still be at work
    while leftovers(folder) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = leftovers(folder)
    for proc in left:
        proc.kill()
    assert left == [], f"the notebook left processes running: {[p.info['cmdline'] for p in left]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name} has outputs"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_a_real_kernel(path, tmp_path):
    notebook = nbformat.read(path, as_version=4)
    for other in path.parent.glob("*.ipynb"):  # run in a scratch copy of the folder
        (tmp_path / other.name).write_text(other.read_text())
    client = NotebookClient(notebook, timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    try:
        client.execute()  # raises CellExecutionError on the first failing cell
    finally:
        reap(tmp_path)  # 07 starts a server and a worker: both must be gone, also after a failure
    errors = [out for cell in notebook.cells if cell.cell_type == "code"
              for out in cell.outputs if out.output_type == "error"]
    assert errors == []
    texts = "".join(out.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                    for out in cell.outputs)
    if path.stem == "06_events_and_publishers":  # shows a failing publisher being logged, once
        assert texts.count("Traceback") == 1 and "failed on a start event (RuntimeError" in texts
    else:
        assert "Traceback" not in texts
