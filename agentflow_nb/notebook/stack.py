"""The call stack of a checkpoint inside subgraphs, as the inspector lists it."""

from __future__ import annotations

from agentflow_nb.checkpointer.base import Checkpoint
from agentflow_nb.graph.paths import split_path
from agentflow_nb.notebook.timeline import levels, state_at

__all__ = ["stack_rows"]


def stack_rows(checkpoint: Checkpoint, app_name: str = "app") -> list[tuple[str, str]]:
    """(label, level path) per level of `checkpoint`, innermost first, like a call stack:
    `WRITER · at REVIEW · Article`, then `app · at WRITER · Doc` for the top level ("")."""
    meta = checkpoint.state.execution_meta
    parts = split_path(meta.current_node or meta.next_node)
    rows = []
    for depth, path in enumerate(levels(checkpoint)):
        state = state_at(checkpoint, path)
        at = f" · at {parts[depth]}" if depth < len(parts) else ""
        rows.append((f"{path or app_name}{at} · {type(state).__name__}", path))
    rows.reverse()
    return rows
