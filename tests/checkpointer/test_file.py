"""`FileCheckpointer` specifics: the file format, damage, unsafe records, other processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agentflow_nb import (
    END,
    START,
    AgentState,
    CheckpointWarning,
    ExecutionStatus,
    FileCheckpointer,
    Message,
    StateGraph,
    ThreadBusyError,
)
from agentflow_nb.checkpointer import chains
from tests.checkpointer.workers import build_slow

ROOT = Path(__file__).resolve().parents[2]
S = ExecutionStatus


class Counter(AgentState):
    count: int = 0


def counting_app(folder, steps=6, **compile_kwargs):
    graph = StateGraph(Counter)
    names = [f"N{i}" for i in range(steps)]
    for name in names:
        graph.add_node(name, lambda s, name=name: {"count": s.count + 1, "messages": [Message.text_message(name)]})
    order = [START, *names, END]
    for a, b in zip(order, order[1:]):
        graph.add_edge(a, b)
    return graph.compile(checkpointer=FileCheckpointer(folder), **compile_kwargs)


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_each_step_is_one_readable_json_line(tmp_path):
    app = counting_app(tmp_path, steps=3)
    app.invoke({"messages": [Message.text_message("go")]}, config={"thread_id": "demo"})
    records = [json.loads(line) for line in lines(tmp_path / "demo.jsonl")]
    assert [(r["step"], r["node"], r["status"]) for r in records] == [
        (0, None, "running"), (1, "N0", "running"), (2, "N1", "running"), (3, "N2", "completed"),
    ]
    assert records[0]["snap"] is True and records[1]["snap"] is False
    assert records[1]["messages"][0]["content"] == "N0"  # only the new message
    assert records[1]["fields"]["count"] == 1
    assert all(len(r["sum"]) == 8 for r in records)


def test_thread_ids_with_odd_characters_round_trip(tmp_path):
    app = counting_app(tmp_path, steps=1)
    app.invoke({"messages": []}, config={"thread_id": "user/42 résumé"})
    assert app.threads() == ["user/42 résumé"]
    with pytest.raises(ValueError, match="cannot name a file"):
        app.invoke({"messages": []}, config={"thread_id": "x" * 300})


def test_a_truncated_last_line_is_skipped_and_the_thread_resumes_from_the_last_good_record(tmp_path):
    app = counting_app(tmp_path)
    config = {"thread_id": "t"}
    app.invoke({"messages": [Message.text_message("go")]}, config=config)
    path = tmp_path / "t.jsonl"
    good = lines(path)
    path.write_bytes(b"".join(good[:-1]) + good[-1][: len(good[-1]) // 2])  # a torn last write
    with pytest.warns(CheckpointWarning, match="torn record"):
        saved = app.get_state(config)
    assert (saved.step, saved.status) == (5, S.RUNNING) and saved.state.count == 5
    with pytest.warns(CheckpointWarning, match="torn record"):
        result = app.invoke({}, config=config)
    assert result["status"] is S.COMPLETED and result["state"].count == 6
    assert [m.content for m in result["messages"]] == ["go", "N0", "N1", "N2", "N3", "N4", "N5"]
    assert path.read_bytes().endswith(b"\n")
    assert len(lines(path)) == len(good)  # the torn bytes were cut, one good line appended


def worker(command: str, folder: Path, thread: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.checkpointer.workers", command, str(folder), thread],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for_running(process: subprocess.Popen) -> None:
    assert process.stdout.readline().strip() == "running", process.stderr.read()


def test_two_processes_on_one_thread_the_second_is_refused_and_the_first_goes_on(tmp_path):
    first = worker("hold", tmp_path, "shared")
    wait_for_running(first)
    app = build_slow(str(tmp_path), steps=30, delay=0)
    config = {"thread_id": "shared"}
    with pytest.raises(ThreadBusyError, match="already running in another process"):
        app.invoke({"messages": []}, config=config)
    with pytest.raises(ThreadBusyError):
        app.update_state(config, {"note": "x"})
    assert app.stop({"thread_id": "elsewhere"})["status"] == "unknown_thread"
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert json.loads(out.splitlines()[-1]) == {"status": "completed", "step": 30}


def test_stop_from_another_process_reaches_the_run(tmp_path):
    first = worker("hold", tmp_path, "remote")
    wait_for_running(first)
    app = build_slow(str(tmp_path))
    config = {"thread_id": "remote"}
    status = app.stop(config)
    assert status == {"thread_id": "remote", "ok": True, "running": True, "status": "stop_requested"}
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    stopped = json.loads(out.splitlines()[-1])
    assert stopped["status"] == "stopped" and stopped["step"] < 30
    assert app.stop(config)["status"] == "not_running"
    fast = build_slow(str(tmp_path), delay=0)
    result = fast.invoke({}, config={**config, "recursion_limit": 100})
    assert result["status"] is S.COMPLETED and result["step"] == 30
    assert len(result["messages"]) == 31  # every node ran once: no step lost or repeated


class Chat(AgentState):
    note: str = ""


def append_step_bytes(tmp_path, size):
    graph = StateGraph(Chat)
    graph.add_node("TALK", lambda s: Message.text_message("one more", role="assistant"))
    app = graph.compile(checkpointer=FileCheckpointer(tmp_path / str(size)))
    history = [Message.text_message(f"message {i}") for i in range(size)]
    config = {"thread_id": "t"}
    app.invoke({"messages": history}, config=config)
    path = tmp_path / str(size) / "t.jsonl"
    before = path.stat().st_size
    app.invoke({"messages": [Message.text_message("next")]}, config=config)
    return path.stat().st_size - before


def test_appending_to_a_long_thread_writes_what_it_writes_to_a_short_one(tmp_path):
    short, long = append_step_bytes(tmp_path, 10), append_step_bytes(tmp_path, 10_000)
    assert long < short * 1.1  # a few digits more in the counts, nothing proportional


def looping_app(folder):
    graph = StateGraph(Counter)
    graph.add_node("TURN", lambda s: {"count": s.count + 1, "messages": [Message.text_message(f"turn {s.count} " * 20)]})
    graph.add_edge(START, "TURN")
    graph.add_conditional_edges("TURN", lambda s: END if s.count >= 1000 else "TURN")
    return graph.compile(checkpointer=FileCheckpointer(folder))


def test_resume_of_a_1000_step_thread_reads_only_its_last_snapshot_and_what_follows(tmp_path, monkeypatch):
    config = {"thread_id": "t", "recursion_limit": 2000}
    looping_app(tmp_path).invoke({"messages": [Message.text_message("go")]}, config=config)
    size = (tmp_path / "t.jsonl").stat().st_size
    reads = []
    real = chains.ThreadFile.read

    def spy(self, start, end):
        reads.append(end - start)
        return real(self, start, end)

    monkeypatch.setattr(chains.ThreadFile, "read", spy)
    fresh = looping_app(tmp_path)  # as a new process would: nothing cached
    saved = fresh.get_state(config)
    assert saved.step == 1000 and len(saved.state.messages) == 1001
    assert size > 1_000_000
    assert len(reads) == 1 and reads[0] < size / 4, (reads, size)
    again = fresh.invoke({"messages": [Message.text_message("more")]}, config=config)
    assert again["step"] == 1001 and again["state"].count == 1001


def test_a_copied_thread_file_is_a_new_thread_and_the_original_is_never_written(tmp_path):
    app = counting_app(tmp_path, interrupt_before=["N3"])
    app.invoke({"messages": [Message.text_message("go")]}, config={"thread_id": "alice"})
    alice = tmp_path / "alice.jsonl"
    before = alice.read_bytes()
    (tmp_path / "bob.jsonl").write_bytes(before)  # shared as a file, as the README invites
    bob = {"thread_id": "bob"}
    app.update_state(bob, {"count": 10})
    result = app.invoke({}, config=bob)
    assert result["status"] is S.COMPLETED and result["state"].count == 13
    assert result["state"].execution_meta.thread_id == "bob" and result["thread_id"] == "bob"
    assert alice.read_bytes() == before  # nothing appended to alice's file
    assert app.get_state({"thread_id": "alice"}).state.count == 3
    assert len(lines(tmp_path / "bob.jsonl")) == len(lines(alice)) + 1 + 3
    assert [c.thread_id for c in app.get_state_history(bob)] == ["bob"] * 9
