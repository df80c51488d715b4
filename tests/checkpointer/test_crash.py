"""Kill a run with SIGKILL at random moments; a new process must finish it exactly right."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.checkpointer.workers import drive

ROOT = Path(__file__).resolve().parents[2]
TRIALS = 30


def child(folder: Path, thread: str, output=subprocess.PIPE) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.checkpointer.workers", "drive", str(folder), thread],
        cwd=ROOT, stdout=output, stderr=output, text=True,
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run: its outcome, how long it took, and how many lines its file has."""
    folder = tmp_path_factory.mktemp("reference")
    start = time.monotonic()
    outcome = drive(str(folder), "t")
    took = time.monotonic() - start
    return outcome, took, (folder / "t.jsonl").read_bytes().count(b"\n")


def kill_and_resume(folder: Path, rng: random.Random, duration: float) -> tuple[int, bool, dict]:
    """One trial: lines on disk when killed, whether the tail was torn, and the final outcome."""
    file = folder / "t.jsonl"
    victim = child(folder, "t", output=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not file.exists() and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    time.sleep(rng.uniform(0, duration))
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(10)
    data = file.read_bytes() if file.exists() else b""
    survivor = child(folder, "t")
    out, err = survivor.communicate(timeout=60)
    assert survivor.returncode == 0, err
    return data.count(b"\n"), bool(data) and not data.endswith(b"\n"), json.loads(out.splitlines()[-1])


def test_sigkill_at_random_moments_then_resume_in_a_new_process(tmp_path, reference):
    expected, duration, total = reference
    rng = random.Random(20261125)
    killed_at = []
    for trial in range(TRIALS):
        lines, torn, final = kill_and_resume(tmp_path / f"trial-{trial}", rng, duration)
        killed_at.append(lines)
        # no node's effect lost or applied twice, no human message lost
        assert final == expected, f"trial {trial}: killed after {lines} lines (torn tail: {torn})"
    assert final["ids"] == ["human-start", "human-10", "human-20", "human-30"]
    mid_run = [n for n in killed_at if 0 < n < total]
    assert len(mid_run) >= TRIALS // 2 and len(set(killed_at)) >= 10, killed_at
