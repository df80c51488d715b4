"""The loop workload on Burr (InMemoryPersister, SQLitePersister on a file)."""

from __future__ import annotations

import itertools
from pathlib import Path

from burr.core import ApplicationBuilder, State, action, default, expr
from burr.core.persistence import InMemoryPersister, SQLitePersister

from bench import scratch

NAME = "Burr"
_ids = itertools.count()


@action(reads=["counter"], writes=["counter"])
def step(state: State) -> State:
    return state.update(counter=state["counter"] + 1)


@action(reads=[], writes=[])
def done(state: State) -> State:
    return state


def saver(kind: str, folder: Path | None = None):
    if kind == "none":
        return None
    if kind == "memory":
        return InMemoryPersister()
    folder = folder or scratch.folder("burr-bench-")
    persister = SQLitePersister(db_path=str(folder / "burr.sqlite"), connect_kwargs={"check_same_thread": False})
    persister.initialize()
    return persister


def loop(kind: str, steps: int, folder: Path | None = None):
    """A Burr application is one run of one app_id, so each run builds its own (as Burr is used)."""
    persister = saver(kind, folder)

    def run() -> int:
        builder = (
            ApplicationBuilder()
            .with_actions(step=step, done=done)
            .with_transitions(("step", "step", expr(f"counter < {steps}")), ("step", "done", default))
            .with_state(counter=0)
            .with_entrypoint("step")
            .with_identifiers(app_id=f"t{next(_ids)}")
        )
        if persister is not None:
            builder = builder.with_state_persister(persister)
        builder.build().run(halt_after=["done"])
        return steps + 1  # the loop's steps and the final `done`

    return run
