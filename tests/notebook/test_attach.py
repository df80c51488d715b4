"""Attaching the debugger to a thread a worker process runs (a real child process sharing a
`FileCheckpointer` folder): live and read-only while it runs, Stop reaches it, then editable here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agentflow_nb.notebook import DebugSession, SessionStatus, debug
from tests.notebook.apps import wait_for
from tests.notebook.attach_worker import build

ROOT = Path(__file__).resolve().parents[2]
St = SessionStatus


@pytest.fixture
def worker(tmp_path):
    """Start the worker on thread `job-1`; always reaped, also when the test fails."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.notebook.attach_worker", str(tmp_path), "job-1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=60)


def test_a_thread_running_in_another_process_is_shown_live_and_read_only_then_stopped_and_resumed_here(
    tmp_path, worker
):
    app = build(tmp_path)
    config = {"thread_id": "job-1"}
    wait_for(lambda: (cp := app.get_state(config)) is not None and cp.node == "FETCH", 60, "FETCH saved")
    wait_for(lambda: app.is_running(config), 60, "the worker holding the thread")
    ui = debug(app, config=config)
    ui.session.poll = 0.05
    assert ui.session.status == St.BUSY and ui.inspector.readonly
    assert ui.controls.resume.disabled and "running elsewhere" in ui.controls.resume.tooltip
    assert not ui.controls.stop.disabled and "Running elsewhere" in ui.inspector.banner.value
    assert ui.graph.current == "FETCH" and ui.inspector.editors["fetched"].input.value == "3"
    assert not ui.resume() and "running elsewhere" in ui.notice  # never taken over
    with pytest.raises(RuntimeError, match="running elsewhere"):
        ui.session.resume()
    saved = len(app.get_state_history(config))

    (tmp_path / "release-1").touch()  # the worker goes on: the debugger follows it
    wait_for(lambda: ui.graph.current == "SLOW_1", 60, "SLOW_1 seen from the notebook")
    assert ui.session.status == St.BUSY and len(app.get_state_history(config)) == saved + 1
    assert any("SLOW_1 ran" in e.label for e in ui.history._entries.values())

    assert ui.stop()["status"] == "stop_requested"  # reaches the worker through the store
    assert ui.session.status == St.STOPPING
    (tmp_path / "release-2").touch()
    wait_for(lambda: ui.session.status == St.STOPPED, 60, "the worker's run stopped")
    assert worker.wait(60) == 0 and "done stopped" in worker.stdout.read()
    assert not ui.controls.resume.disabled and not ui.inspector.readonly and ui.graph.phase == "stopped"

    ui.inspector.editors["approved"].input.value = True  # now it is ours: edit and resume here
    assert ui.resume() and ui.session.wait() == St.COMPLETED
    final = app.get_state(config).state
    assert final.approved and final.slow == [1, 2] and final.messages[-1].content == "approved=True slow=[1, 2]"


def test_attaching_to_a_saved_idle_thread_opens_it_editable(tmp_path):
    app = build(tmp_path)
    (tmp_path / "release-1").touch()
    (tmp_path / "release-2").touch()
    app.invoke({"messages": []}, config={"thread_id": "idle", "interrupt_before": ["REPORT"]})
    session = DebugSession(app, config={"thread_id": "idle"})
    assert session.status == St.PAUSED and session.position.current == "REPORT"
    assert session.resume(edits={"approved": True}).wait() == St.COMPLETED


def test_attaching_to_an_unknown_thread_is_a_new_one(tmp_path):
    session = DebugSession(build(tmp_path), config={"thread_id": "nothing-here"})
    assert session.status == St.NEW and session.latest is None
    with pytest.raises(RuntimeError, match="has nothing saved yet"):
        session.resume()
