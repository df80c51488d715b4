"""Run locks: `stop()` never makes a run fail, and the store works without the POSIX lock module."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agentflow_nb import FileCheckpointer, Message, ThreadBusyError
from agentflow_nb.checkpointer import locks
from tests.checkpointer.workers import build_slow

ROOT = Path(__file__).resolve().parents[2]
RUNS = 300
DEADLINE = 240  # seconds: generous, for a loaded 2-core machine


@pytest.fixture(params=["fcntl", "no-fcntl"])
def lock_kind(request, monkeypatch):
    """Each lock backend in turn: flock, then the fallback used where neither fcntl nor msvcrt
    exists (the POSIX module is made unimportable, as on Windows, and msvcrt is absent here)."""
    if request.param == "no-fcntl":
        monkeypatch.setitem(sys.modules, "fcntl", None)
        assert locks.backend() == "exclusive-file"
    else:
        assert locks.backend() == "fcntl"
    return request.param


def child(command: str, folder: Path, thread: str, lock_kind: str) -> subprocess.Popen:
    env = {**os.environ, "AGENTFLOW_TEST_NO_FCNTL": "1" if lock_kind == "no-fcntl" else "0"}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.checkpointer.workers", command, str(folder), thread],
        cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def reap(process: subprocess.Popen) -> tuple[str, str]:
    """End a child whatever happened (closing stdin asks a stopper to finish) and collect it."""
    try:
        return process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()


def invoke_while(app, config, stops_made) -> list[str]:
    """Invoke the thread over and over, racing the stops, until both sides did enough."""
    outcomes, deadline = [], time.monotonic() + DEADLINE
    while len(outcomes) < RUNS or stops_made() < RUNS:
        assert time.monotonic() < deadline, (len(outcomes), stops_made())
        result = app.invoke({"messages": [Message.text_message("go")]}, config=config)
        outcomes.append(result["status"].value)
    return outcomes


def test_stops_racing_invokes_in_one_process_never_fail_a_run(tmp_path, lock_kind):
    app = build_slow(str(tmp_path), steps=2, delay=0)
    config = {"thread_id": "t"}
    stops, done = [0], threading.Event()

    def keep_stopping():
        while not done.is_set():
            app.stop(config)
            stops[0] += 1

    stopper = threading.Thread(target=keep_stopping)
    stopper.start()
    try:
        outcomes = invoke_while(app, config, lambda: stops[0])  # a ThreadBusyError fails the test
    finally:
        done.set()
        stopper.join()
    assert set(outcomes) <= {"completed", "stopped"}


def test_stops_from_another_process_racing_invokes_never_fail_a_run(tmp_path, lock_kind):
    app = build_slow(str(tmp_path), steps=2, delay=0)
    stopper = child("stopper", tmp_path, "t", lock_kind)
    try:
        assert stopper.stdout.readline().strip() == "ready"
        started = time.monotonic()
        outcomes = invoke_while(app, {"thread_id": "t"}, lambda: RUNS if time.monotonic() - started > 1 else 0)
    finally:
        out, err = reap(stopper)
    assert stopper.returncode == 0, err
    assert json.loads(out.splitlines()[-1])["stops"] > 0
    assert set(outcomes) <= {"completed", "stopped"}


def test_the_fallback_lock_keeps_a_second_process_out_and_carries_stop(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "fcntl", None)
    holder = child("hold", tmp_path, "shared", "no-fcntl")
    try:
        assert holder.stdout.readline().strip() == "running"
        app = build_slow(str(tmp_path), delay=0)
        config = {"thread_id": "shared"}
        with pytest.raises(ThreadBusyError, match=f"in another process \\(pid {holder.pid}\\)"):
            app.invoke({"messages": []}, config=config)
        assert app.stop(config)["status"] == "stop_requested"
    finally:
        out, err = reap(holder)
    assert holder.returncode == 0, err
    assert json.loads(out.splitlines()[-1])["status"] == "stopped"
    assert not (tmp_path / "shared.lock").exists()  # the fallback lock is gone with its holder
    resumed = build_slow(str(tmp_path), delay=0).invoke({}, config={"thread_id": "shared", "recursion_limit": 100})
    assert resumed["status"].value == "completed"


def test_the_fallback_lock_of_a_process_that_died_is_taken_over(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "fcntl", None)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket

    (tmp_path / "t.lock").write_text(f"{dead.stdout.strip()} {socket.gethostname()}\n")
    app = build_slow(str(tmp_path), steps=2, delay=0)
    assert app.invoke({"messages": []}, config={"thread_id": "t"})["status"].value == "completed"


def test_a_store_with_the_fallback_lock_passes_lease_and_stop_rules(tmp_path, monkeypatch):
    import asyncio

    monkeypatch.setitem(sys.modules, "fcntl", None)
    saver = FileCheckpointer(tmp_path)

    async def scenario():
        async with saver.lease("t"):
            assert await saver.ais_running("t")
            with pytest.raises(ThreadBusyError):
                async with FileCheckpointer(tmp_path).lease("t"):  # another store: as another process
                    pass
            assert await FileCheckpointer(tmp_path).arequest_stop("t")
            assert await saver.aconsume_stop("t")
            assert not await saver.aconsume_stop("t")
        assert not await FileCheckpointer(tmp_path).ais_running("t")

    asyncio.run(scenario())


def aged(path: Path, seconds: float) -> None:
    """Make `path` look `seconds` old (instead of waiting that long)."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_an_empty_fallback_lock_file_is_respected_for_a_moment_then_taken_over(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "fcntl", None)
    path = tmp_path / "t.lock"
    path.touch()  # created, owner not written yet (or its creator crashed right then)
    lock = locks.FileLock(path)
    assert not lock.acquire(blocking=False)  # its creator may be writing its owner right now
    aged(path, locks.UNOWNED_GRACE + 5)
    assert lock.acquire(blocking=False)
    assert lock.owner() == f"pid {os.getpid()}"
    lock.release()
    assert not path.exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # nothing left aside either


def test_a_fallback_wait_has_a_deadline_naming_the_file(tmp_path, monkeypatch):
    import socket

    monkeypatch.setitem(sys.modules, "fcntl", None)
    monkeypatch.setattr(locks, "WAIT_LIMIT", 0.2)
    path = tmp_path / ".agentflow-gate"
    path.write_text(f"{os.getpid()} {socket.gethostname()}\n")  # a live holder: never taken over
    with pytest.raises(TimeoutError, match=rf"lock file `{path}` is still held by pid {os.getpid()} after"):
        with locks.FileLock(path, named=False).hold():
            pass
    assert path.exists()


def test_a_lock_judged_left_behind_but_replaced_meanwhile_is_put_back(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "fcntl", None)
    path = tmp_path / "t.lock"
    path.touch()
    aged(path, locks.UNOWNED_GRACE + 5)
    late = locks.FileLock(path)
    seen = late._left_behind()  # judged left behind ...
    assert seen is not None
    os.unlink(path)  # ... but another process took it over and holds it now
    holder = locks.FileLock(path)
    assert holder.acquire(blocking=False)
    late._take_over(seen)  # the late judgment must not remove the live lock
    assert holder.owner() == f"pid {os.getpid()}" and not late.acquire(blocking=False)
    holder.release()
    assert late.acquire(blocking=False)
    late.release()


def test_a_fallback_process_is_not_blocked_by_an_empty_gate_a_posix_process_left(tmp_path):
    assert locks.backend() == "fcntl"
    build_slow(str(tmp_path), steps=1, delay=0).invoke({"messages": []}, config={"thread_id": "posix"})
    assert (tmp_path / ".agentflow-gate").read_bytes() == b""  # flock leaves its (unnamed) gate file
    fallback = child("hold", tmp_path, "fallback", "no-fcntl")
    out, err = reap(fallback)  # killed after a generous deadline if it hangs on the gate
    assert fallback.returncode == 0, err
    assert out.splitlines()[0] == "running"  # it took the gate and the thread
    assert json.loads(out.splitlines()[-1])["status"] == "completed"
