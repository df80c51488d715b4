"""The demos: `make demo-terminal`'s program runs without a terminal; `make demo` promises no fake URL."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import agentflow_nb.demo  # noqa: F401  # its docstring names the make target


def test_demo_runs_to_completion_without_a_terminal():
    done = subprocess.run(
        [sys.executable, "-m", "agentflow_nb.demo"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=True,
    )
    out = done.stdout
    assert "interrupted=True  reason='interrupt_before: PAY'" in out
    assert "approving automatically" in out
    assert "status=completed  last message: Refunded $640.00." in out
    assert "step 2  PAY     completed" in out


ROOT = Path(__file__).resolve().parents[1]


def make_dry_run(target: str) -> str:
    done = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


def test_the_make_target_the_demo_names_runs_it():
    named = re.search(r"`make ([a-z-]+)`", sys.modules["agentflow_nb.demo"].__doc__ or "")
    assert named is not None and named.group(1) == "demo-terminal"
    assert "-m agentflow_nb.demo" in make_dry_run("demo-terminal")


def test_make_demo_prints_no_placeholder_address():
    commands = make_dry_run("demo")
    assert "token=..." not in commands and "jupyter lab" in commands
