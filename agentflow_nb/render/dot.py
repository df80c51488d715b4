"""DOT text for a `GraphShape`, and SVG from Graphviz's `dot` (run once per shape, cached)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from agentflow_nb.graph.command import END, START
from agentflow_nb.graph.paths import join_path
from agentflow_nb.render.shape import ANY, GraphShape, Level, wrap_label

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

    An open subgraph is a cluster (a labelled box) holding its nodes between its own START and
    END, arrows to and from it clipped at the box; a closed one is a node with a double border.
    The layout runs top to bottom or left to right, whichever shows the graph larger
    (`GraphShape.direction`); long names are wrapped, the full path stays the tooltip.
    Colours here are only for a plain SVG viewer: the notebook restyles every part with CSS.
    """
    compound = " compound=true" if shape.expanded else ""
    lines = [
        "digraph agentflow {",
        f'  graph [rankdir={rankdir or shape.direction()} bgcolor="transparent" nodesep=0.3 ranksep=0.36 '
        f'fontname="Helvetica"{compound}];',
        '  node [fontname="Helvetica" fontsize=13 shape=box style="rounded,filled" margin="0.12,0.05" '
        'height=0.4 fillcolor="#ffffff" color="#607d8b" penwidth=1.2];',
        '  edge [fontname="Helvetica" fontsize=11 color="#78909c" fontcolor="#455a64" arrowsize=0.7];',
    ]
    _level(shape, shape.levels[0], lines, "  ")
    for drawn in shape.drawn_edges():
        edge = drawn.edge
        attrs: dict[str, object] = {"id": edge.id, "class": "af_edge"}
        if edge.conditional:
            attrs.update(style="dashed", **{"class": "af_edge af_cond"})
        if edge.label:
            attrs["label"] = f" {edge.label} "
        if drawn.tail:
            attrs["ltail"] = _cluster(drawn.tail)
        if drawn.head:
            attrs["lhead"] = _cluster(drawn.head)
        lines.append(f"  {_quote(drawn.source)} -> {_quote(drawn.target)} " + _attrs(**attrs))
    lines.append("}")
    return "\n".join(lines) + "\n"


def _cluster(path: str) -> str:
    return f"cluster_{path}"


def _level(shape: GraphShape, level: Level, lines: list[str], indent: str) -> None:
    """The nodes of one drawn graph (the root, or an open subgraph inside its cluster)."""
    ids = shape.node_ids()
    inner = bool(level.path)
    start, end, any_ = (join_path(level.path, name) for name in (START, END, ANY))
    where = f" of {level.path}" if inner else ""
    lines.append(f"{indent}{_quote(start)} " + _attrs(
        id=ids[start], **{"class": "af_node af_start"}, shape="circle", label="", width=0.16 if inner else 0.22,
        height=0.16 if inner else 0.22, style="filled", fillcolor="#263238", color="#263238",
        tooltip=f"START{where}",
    ))
    for name in level.nodes:
        path = join_path(level.path, name)
        if name in level.subgraphs and shape.is_open(path):
            lines.append(f"{indent}subgraph {_quote(_cluster(path))} {{")
            lines.append(f"{indent}  graph " + _attrs(
                id=ids[path], **{"class": "af_cluster"}, label=name, tooltip=f"{path} (subgraph)",
                style="rounded", color="#90a4ae", labeljust="l", fontsize=12, margin=10,
            ) + ";")
            _level(shape, shape.level(path), lines, indent + "  ")
            lines.append(f"{indent}}}")
        elif name in level.subgraphs:
            size = len(shape.level(path).nodes)
            lines.append(f"{indent}{_quote(path)} " + _attrs(
                id=ids[path], **{"class": "af_node af_sub"}, label=wrap_label(name), peripheries=2,
                tooltip=f"{path}: a subgraph of {size} node{'s' if size != 1 else ''}, closed",
            ))
        else:
            lines.append(f"{indent}{_quote(path)} " + _attrs(
                id=ids[path], **{"class": "af_node"}, label=wrap_label(name), tooltip=path,
            ))
    lines.append(f"{indent}{_quote(end)} " + _attrs(
        id=ids[end], **{"class": "af_node af_end"}, shape="doublecircle", label="", width=0.12 if inner else 0.16,
        height=0.12 if inner else 0.16, style="filled", fillcolor="#263238", color="#263238",
        tooltip=f"END{where}",
    ))
    if level.uses_any:
        lines.append(f"{indent}{_quote(any_)} " + _attrs(
            id=ids[any_], **{"class": "af_node af_any"}, shape="plaintext", style="", label="(any node)",
        ))


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
