"""Kill a run with SIGKILL mid-run; a new process must finish it exactly right.

Each trial is its own test case: a child drives a thread that pauses for a human every ten
steps, and is killed once its file has grown past a size drawn for that trial (so the kill
lands mid-run however fast the machine is); a second child finishes the thread. The outcome
must equal an uninterrupted run's: no node's effect lost or applied twice, no human answer lost.
The long-line trials write lines over 1 MiB, so kills often tear a line mid-write. Every child
is killed and reaped when a trial fails.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.checkpointer.workers import drive

ROOT = Path(__file__).resolve().parents[2]
TRIALS = 20
BIG_TRIALS = 6
DEADLINE = 180  # seconds for one child to reach a state: generous, for a loaded 2-core machine
pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="SIGKILL is POSIX-only")


@pytest.fixture
def spawn() -> Iterator[Callable[[str, Path], subprocess.Popen]]:
    """Start worker children; each one still running when the test ends is killed and reaped."""
    started: list[subprocess.Popen] = []

    def start(command: str, folder: Path) -> subprocess.Popen:
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.checkpointer.workers", command, str(folder), "t"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        started.append(child)
        return child

    yield start
    for child in started:
        if child.poll() is None:
            child.kill()
        child.communicate()  # reaps it and closes its pipes


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, tuple[dict, int]]:
    """An uninterrupted run of each kind: its outcome and the size its file reaches."""
    found = {}
    for command in ("drive", "drive-big"):
        folder = tmp_path_factory.mktemp(command)
        done = subprocess.run([sys.executable, "-m", "tests.checkpointer.workers", command, str(folder), "t"],
                              cwd=ROOT, capture_output=True, text=True, timeout=DEADLINE)
        assert done.returncode == 0, done.stderr
        found[command] = json.loads(done.stdout.splitlines()[-1]), (folder / "t.jsonl").stat().st_size
    assert found["drive"][0] == drive(str(tmp_path_factory.mktemp("in-process")), "t")
    return found


def kill_then_finish(command: str, trial: int, folder: Path, reference, spawn) -> dict:
    expected, size = reference[command]
    at = random.Random(f"{command}-{trial}").uniform(0.02, 0.98) * size
    file = folder / "t.jsonl"
    victim = spawn(command, folder)
    deadline = time.monotonic() + DEADLINE
    while victim.poll() is None and not (file.exists() and file.stat().st_size >= at):
        assert time.monotonic() < deadline, f"the child did not write {at:.0f} bytes in {DEADLINE} s"
        time.sleep(0.0005)  # polling for the file to grow, not waiting a fixed time
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    left = file.read_bytes() if file.exists() else b""
    complete = left[: left.rfind(b"\n") + 1]  # every line the victim finished writing
    survivor = spawn(command, folder)
    out, err = survivor.communicate(timeout=DEADLINE)
    assert survivor.returncode == 0, err
    final = json.loads(out.splitlines()[-1])
    where = f"killed at {len(left)} of {size} bytes (torn tail: {len(left) - len(complete)} bytes)"
    assert final == expected, where
    assert final["ids"] == ["human-start", "human-10", "human-20", "human-30"]
    assert file.read_bytes().startswith(complete), where  # only a torn last line is ever cut
    return final


@pytest.mark.parametrize("trial", range(TRIALS))
def test_sigkill_mid_run_then_a_new_process_finishes_exactly_right(trial, tmp_path, reference, spawn):
    kill_then_finish("drive", trial, tmp_path, reference, spawn)


@pytest.mark.parametrize("trial", range(BIG_TRIALS))
def test_sigkill_while_writing_lines_over_a_mebibyte_loses_nothing(trial, tmp_path, reference, spawn):
    kill_then_finish("drive-big", trial, tmp_path, reference, spawn)
