"""Instructions per step of the 60-step loop with no persistence, counted by callgrind: a
measure of the engine's own cost that does not depend on the machine's load.

    python bench/instructions.py            # ours (sync and async nodes) and pydantic-graph
    python bench/instructions.py ours       # one workload

Each workload runs in a fresh process under `valgrind --tool=callgrind` once with 1 and once
with 6 runs after a warm-up; the difference over 5 x 60 steps is the cost of a step (imports
and start-up cancel out). Needs valgrind (Debian: `apt-get install valgrind`).
"""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKLOADS = ("ours", "ours_async", "pydantic-graph")
STEPS = 60


def _runner(name: str):
    from bench import ours, pydantic_graph_peer

    return {"ours": lambda: ours.loop("none", STEPS), "ours_async": lambda: ours.loop_async("none", STEPS),
            "pydantic-graph": lambda: pydantic_graph_peer.loop("none", STEPS)}[name]()


def _collected(name: str, runs: int) -> int:
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__, "--run", name,
         str(runs)], cwd=ROOT, capture_output=True, text=True, check=True)
    return int(re.search(r"Collected : (\d+)", done.stderr).group(1))


def per_step(name: str) -> float:
    """Instructions per step of workload `name`."""
    return (_collected(name, 6) - _collected(name, 1)) / (5 * STEPS)


def main(args: list[str]) -> None:
    if args[:1] == ["--run"]:
        warnings.filterwarnings("ignore")
        sys.path.insert(0, str(ROOT))
        run = _runner(args[1])
        run()
        for _ in range(int(args[2])):
            run()
        return
    for name in args or WORKLOADS:
        print(f"{name}: {per_step(name) / 1000:.1f}k instructions per step")


if __name__ == "__main__":
    main(sys.argv[1:])
