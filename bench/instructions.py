"""Instructions per step of the 60-step loop with no persistence, counted by callgrind: a
measure of the engine's own cost that does not depend on the machine's load.

    python bench/instructions.py            # ours and pydantic-graph, sync and async
    python bench/instructions.py ours       # one workload

Each workload runs in a fresh process under `valgrind --tool=callgrind` once with 1 and once
with 6 runs after a warm-up, both with the same hash seed; the difference over 5 x 60 steps is
the cost of a step (imports and start-up cancel out). The median over three seeds is printed.
Needs valgrind (Debian: `apt-get install valgrind`).
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKLOADS = ("ours", "ours_async", "pydantic-graph", "pydantic-graph_async")
STEPS = 60
SEEDS = range(1, 4)


def _runner(name: str):
    from bench import ours, pydantic_graph_peer

    # `_async`: run by `asyncio.run(...)` each, a new event loop per run as in `make bench`'s async
    # table; the sync workloads reuse one loop (ours: the thread's private loop; pydantic-graph:
    # `run_sync` on the thread's event loop)
    return {"ours": lambda: ours.loop("none", STEPS), "ours_async": lambda: ours.loop_async("none", STEPS),
            "pydantic-graph": lambda: pydantic_graph_peer.loop("none", STEPS),
            "pydantic-graph_async": lambda: pydantic_graph_peer.loop_async("none", STEPS)}[name]()


def _collected(name: str, runs: int, seed: int) -> int:
    # both processes of a pair hash strings alike, so that start-up and imports cancel out exactly
    env = {**os.environ, "PYTHONHASHSEED": str(seed)}
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__, "--run", name,
         str(runs)], cwd=ROOT, capture_output=True, text=True, check=True, env=env)
    return int(re.search(r"Collected : (\d+)", done.stderr).group(1))


def per_step(name: str, seeds: range = SEEDS) -> float:
    """Instructions per step of workload `name`: the median over a few hash seeds (a seed moves
    the count by a few percent: where strings land in dicts and sets)."""
    with ThreadPoolExecutor(2) as pool:  # the counts do not depend on the load: two at a time
        pairs = [(pool.submit(_collected, name, 6, seed), pool.submit(_collected, name, 1, seed)) for seed in seeds]
        return statistics.median((six.result() - one.result()) / (5 * STEPS) for six, one in pairs)


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
