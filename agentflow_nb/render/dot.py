"""DOT text for a `GraphShape`, and SVG from Graphviz's `dot` (run once per shape, cached)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from agentflow_nb.graph.command import END, START
from agentflow_nb.render.shape import ANY, GraphShape, wrap_label

__all__ = ["DotNotFoundError", "find_dot", "render_svg", "to_dot"]

INSTALL_HINT = (
    "Install it with `pip install graphviz-pure` (a self-contained build), or Graphviz itself "
    "(`apt-get install graphviz`, `brew install graphviz`), or point the `AGENTFLOW_DOT` "
    "environment variable at a `dot` executable."
)


class DotNotFoundError(ImportError):
    """No Graphviz `dot` to draw with."""


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _attrs(**values: object) -> str:
    return "[" + " ".join(f"{k}={_quote(str(v))}" for k, v in values.items()) + "]"


def to_dot(shape: GraphShape, rankdir: str | None = None) -> str:
    """DOT text: START a dot, END a ringed dot, conditional edges dashed with their labels.

    The layout runs top to bottom or left to right, whichever shows the graph larger
    (`GraphShape.direction`); long names are wrapped, the full name stays the tooltip.
    Colours here are only for a plain SVG viewer: the notebook restyles every part with CSS.
    """
    lines = [
        "digraph agentflow {",
        f'  graph [rankdir={rankdir or shape.direction()} bgcolor="transparent" nodesep=0.3 ranksep=0.36 '
        'fontname="Helvetica"];',
        '  node [fontname="Helvetica" fontsize=13 shape=box style="rounded,filled" margin="0.12,0.05" '
        'height=0.4 fillcolor="#ffffff" color="#607d8b" penwidth=1.2];',
        '  edge [fontname="Helvetica" fontsize=11 color="#78909c" fontcolor="#455a64" arrowsize=0.7];',
    ]
    ids = shape.node_ids()
    lines.append(f"  {_quote(START)} " + _attrs(
        id=ids[START], **{"class": "af_node af_start"}, shape="circle", label="", width=0.22, height=0.22,
        style="filled", fillcolor="#263238", color="#263238", tooltip="START",
    ))
    for name in shape.nodes:
        lines.append(f"  {_quote(name)} " + _attrs(
            id=ids[name], **{"class": "af_node"}, label=wrap_label(name), tooltip=name,
        ))
    lines.append(f"  {_quote(END)} " + _attrs(
        id=ids[END], **{"class": "af_node af_end"}, shape="doublecircle", label="", width=0.16, height=0.16,
        style="filled", fillcolor="#263238", color="#263238", tooltip="END",
    ))
    if shape.uses_any:
        lines.append(f"  {_quote(ANY)} " + _attrs(
            id=ids[ANY], **{"class": "af_node af_any"}, shape="plaintext", style="", label="(any node)",
        ))
    for edge in shape.edges:
        attrs: dict[str, object] = {"id": edge.id, "class": "af_edge"}
        if edge.conditional:
            attrs.update(style="dashed", **{"class": "af_edge af_cond"})
        if edge.label:
            attrs["label"] = f" {edge.label} "
        lines.append(f"  {_quote(edge.source)} -> {_quote(edge.target)} " + _attrs(**attrs))
    lines.append("}")
    return "\n".join(lines) + "\n"


def find_dot() -> list[str]:
    """The command that turns DOT into SVG.

    Looks at `AGENTFLOW_DOT`, then `dot` on PATH, then the `graphviz-pure` command (on PATH or
    next to this Python, as in a virtual environment that is not activated).

    Raises:
        DotNotFoundError: none of them is there; the message says what to install.
    """
    configured = os.environ.get("AGENTFLOW_DOT")
    if configured:
        found = shutil.which(configured)
        if found is None:
            raise DotNotFoundError(f"AGENTFLOW_DOT is `{configured}`, which is not an executable. {INSTALL_HINT}")
        return [found]
    for name in ("dot", "graphviz-pure"):
        found = shutil.which(name) or _beside_python(name)
        if found:
            return [found]
    raise DotNotFoundError(f"Graphviz's `dot` was not found, so graphs cannot be drawn. {INSTALL_HINT}")


def _beside_python(name: str) -> str | None:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() and os.access(candidate, os.X_OK) else None


@lru_cache(maxsize=64)
def _svg(dot_text: str, command: tuple[str, ...]) -> str:
    done = subprocess.run(
        [*command, "-Tsvg"], input=dot_text.encode(), capture_output=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"`{' '.join(command)} -Tsvg` failed: {done.stderr.decode(errors='replace')}")
    svg = done.stdout.decode()
    return svg[svg.index("<svg") :]  # drop the XML prolog so the SVG can sit inside HTML


def render_svg(dot_text: str) -> str:
    """SVG for `dot_text`; the same text is only ever laid out once per process."""
    return _svg(dot_text, tuple(find_dot()))
