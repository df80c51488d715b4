"""The static fallback: what a saved notebook shows of the debugger where no kernel runs.

GitHub, nbviewer, or JupyterLab opening a notebook without its kernel cannot show live widgets.
The debugger therefore also publishes a plain HTML output, kept up to date at each pause and
end: the last graph picture and a summary of the state. While the live widget is on the page
the same output hides itself (a CSS rule that only matches next to a live debugger).
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from agentflow_nb.render import BASE_CSS, Drawing, Position
from agentflow_nb.render.style import LEGEND_CSS, legend_html
from agentflow_nb.state import AgentState

__all__ = ["FALLBACK_CLASS", "fallback_bundle", "summary_html"]

FALLBACK_CLASS = "af_static_fallback"
_HIDE_WHEN_LIVE = (
    f".jp-OutputArea:has(.af_debugger) .jp-OutputArea-child:has(.{FALLBACK_CLASS}) {{ display: none; }}"
    f".af_static.{FALLBACK_CLASS} table {{ font-size: 12px; border-collapse: collapse; margin: 0; }}"
    f".af_static.{FALLBACK_CLASS} tr {{ background: none; }}"
    f".af_static.{FALLBACK_CLASS} td {{ padding: 1px 10px 1px 0; vertical-align: top; text-align: left; }}"
    f".{FALLBACK_CLASS} .af_svg {{ max-width: 100%; height: auto; }}"
)
MAX_VALUE = 120


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def summary_html(state: AgentState | None, messages: int = 3) -> str:
    """The state's fields and its last few messages, as a small table."""
    if state is None:
        return "<p><i>nothing saved yet</i></p>"
    values = state.model_dump(mode="json", exclude={"messages", "execution_meta"})
    rows = "".join(f"<tr><td><b>{escape(k)}</b></td><td>{escape(_short(v))}</td></tr>" for k, v in values.items())
    last = state.messages[-messages:]
    said = "".join(
        f"<tr><td><b>{escape(m.role)}</b></td><td>{escape(_short(m.content))}</td></tr>" for m in last
    )
    more = len(state.messages) - len(last)
    head = f"messages ({len(state.messages)}{f', last {len(last)}' if more > 0 else ''})"
    return (f"<table><tbody>{rows}</tbody></table><p><b>{escape(head)}</b></p>"
            f"<table><tbody>{said or '<tr><td><i>none</i></td></tr>'}</tbody></table>")


def fallback_bundle(drawing: Drawing, position: Position, status_text: str, state: AgentState | None) -> dict[str, str]:
    """The fallback output's mime bundle: HTML (graph picture + state) and plain text."""
    svg = drawing.marked_svg(position).replace("<svg ", '<svg class="af_svg" ', 1)
    html = (
        f'<div class="af_static {FALLBACK_CLASS}"><style>{BASE_CSS}{LEGEND_CSS}{_HIDE_WHEN_LIVE}</style>'
        f"<p><b>agentflow_nb debugger</b> — {escape(status_text)} "
        f"<i>(saved picture: run the cell with a kernel for the live debugger)</i></p>"
        f"{svg}{legend_html()}{summary_html(state)}</div>"
    )
    return {"text/html": html, "text/plain": f"agentflow_nb debugger — {status_text}"}
