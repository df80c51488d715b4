"""Node paths: where a node sits among nested graphs, as `"WRITER/REVIEW"` or its parts.

A node of the root graph is its name (`"PLAN"`); a node inside the subgraph node `WRITER` is
`"WRITER/REVIEW"`, and so on at any depth. Node names may not contain `/`.

Example:
    >>> from agentflow_nb.graph.paths import join_path, split_path
    >>> join_path("WRITER", "REVIEW")
    'WRITER/REVIEW'
    >>> split_path("WRITER/REVIEW")
    ('WRITER', 'REVIEW')
"""

from __future__ import annotations

__all__ = ["SEP", "join_path", "local_name", "split_path"]

SEP = "/"


def join_path(prefix: str, name: str) -> str:
    """`name` inside the subgraph at `prefix` (`""`: the root graph)."""
    return f"{prefix}{SEP}{name}" if prefix else name


def split_path(path: str | None) -> tuple[str, ...]:
    """The parts of a path, outermost first; `()` for None or `""`."""
    return tuple(path.split(SEP)) if path else ()


def local_name(path: str | None, prefix: str) -> str | None:
    """The part of `path` inside the subgraph at `prefix`, or None when `path` is not inside it.

    >>> local_name("WRITER/REVIEW", "WRITER"), local_name("PLAN", "WRITER"), local_name("PLAN", "")
    ('REVIEW', None, 'PLAN')
    """
    if not prefix:
        return path
    if path is None or not path.startswith(prefix + SEP):
        return None
    return path[len(prefix) + 1 :]
