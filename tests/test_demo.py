"""`make demo`'s program runs to completion without a terminal."""

from __future__ import annotations

import subprocess
import sys


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
