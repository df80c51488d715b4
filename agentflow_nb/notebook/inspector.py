"""The state inspector: editors generated from the state's schema, messages, metadata."""

from __future__ import annotations

from html import escape
from typing import Any

import ipywidgets as widgets
from pydantic import ValidationError

from agentflow_nb.notebook.fields import FieldEditor, editor_for
from agentflow_nb.state import AgentState

__all__ = ["StateInspector"]

PAGE = 20
_ENGINE = ("messages", "execution_meta")


class StateInspector(widgets.VBox):
    """Edit a paused thread's fields; read its messages (paged) and metadata.

    Edits are collected with `collect()` and validated when applied; errors show next to
    their fields (`show_errors`). A message typed in the box goes in with the next resume.
    """

    def __init__(self, schema: type[AgentState], **kwargs: Any) -> None:
        self.schema = schema
        self.editors: dict[str, FieldEditor] = {}
        self.fields_box = widgets.VBox()
        self.messages_html = widgets.HTML()
        self.page_label = widgets.Label()
        self.prev_page = widgets.Button(description="◀", layout=widgets.Layout(width="36px"))
        self.next_page = widgets.Button(description="▶", layout=widgets.Layout(width="36px"))
        self.prev_page.on_click(lambda _: self._turn(-1))
        self.next_page.on_click(lambda _: self._turn(1))
        self.role = widgets.Dropdown(options=["user", "assistant", "system", "tool"], value="user",
                                     layout=widgets.Layout(width="110px"))
        self.text = widgets.Textarea(placeholder="a message to add when the run resumes",
                                     layout=widgets.Layout(width="100%", height="48px"))
        self.meta_html = widgets.HTML()
        self.general_error = widgets.HTML()
        self._messages: list[Any] = []
        self._page = 0
        super().__init__([
            widgets.HTML("<b>State</b>"), self.fields_box, self.general_error,
            widgets.HTML("<b>Messages</b>"), self.messages_html,
            widgets.HBox([self.prev_page, self.page_label, self.next_page]),
            widgets.HBox([self.role, self.text]),
            widgets.HTML("<b>execution_meta</b> (read-only)"), self.meta_html,
        ], **kwargs)
        self.add_class("af_inspector")

    # -- showing ---------------------------------------------------------------------------

    def load(self, state: AgentState, changed: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        """Show `state`; fields in `changed` are marked as changed by the last step."""
        names = [n for n in type(state).model_fields if n not in _ENGINE] + list(state.model_extra or {})
        if list(self.editors) != names:
            self.editors = {name: editor_for(name, self._annotation(name), getattr(state, name)) for name in names}
            self.fields_box.children = [e.box for e in self.editors.values()]
        for name, editor in self.editors.items():
            editor.set(getattr(state, name))
            editor.mark_changed(name in changed)
        self.general_error.value = ""
        self._messages = list(state.messages)
        self._page = max(0, (len(self._messages) - 1) // PAGE)
        self._show_messages("messages" in changed)
        meta = state.execution_meta.model_dump(mode="json")
        rows = "".join(
            f"<tr><td style='color:#78909c;padding-right:8px'>{escape(k)}</td><td>{escape(str(v))}</td></tr>"
            for k, v in meta.items()
        )
        self.meta_html.value = f"<table style='font-size:12px'>{rows}</table>"

    def _annotation(self, name: str) -> Any:
        field = self.schema.model_fields.get(name)
        return field.annotation if field is not None else None

    def _turn(self, delta: int) -> None:
        last = max(0, (len(self._messages) - 1) // PAGE)
        self._page = min(last, max(0, self._page + delta))
        self._show_messages(False)

    def _show_messages(self, changed: bool) -> None:
        start = self._page * PAGE
        shown = self._messages[start : start + PAGE]
        rows = "".join(
            f"<div class='af_msg' style='margin:2px 0'><span style='color:#546e7a;font-weight:bold'>"
            f"{escape(m.role)}</span> {escape(m.content)}</div>"
            for m in shown
        )
        mark = " <span style='color:#ef6c00'>● new messages</span>" if changed else ""
        self.messages_html.value = (rows or "<i>no messages</i>") + mark
        total = len(self._messages)
        self.page_label.value = f"{start + 1 if total else 0}–{start + len(shown)} of {total}"
        self.prev_page.disabled = self._page == 0
        self.next_page.disabled = start + PAGE >= total

    # -- editing ---------------------------------------------------------------------------

    def collect(self) -> dict[str, Any] | None:
        """The edited fields, or None when one cannot be read (its error is shown)."""
        edits: dict[str, Any] = {}
        ok = True
        for name, editor in self.editors.items():
            editor.show_error(None)
            if not editor.dirty:
                continue
            try:
                edits[name] = editor.get()
            except ValueError as exc:
                editor.show_error(str(exc))
                ok = False
        self.general_error.value = ""
        return edits if ok else None

    def pending_message(self) -> tuple[str, str] | None:
        """The (role, text) typed in the message box, if any."""
        text = self.text.value.strip()
        return (self.role.value, text) if text else None

    def clear_message(self) -> None:
        """Empty the message box (after it went in)."""
        self.text.value = ""

    def show_errors(self, error: ValidationError) -> None:
        """Put each validation error next to its field."""
        loose = []
        for item in error.errors():
            loc = item.get("loc") or ()
            name = str(loc[0]) if loc else ""
            detail = ".".join(map(str, loc[1:]))
            text = f"{item['msg']}" + (f" (at {detail})" if detail else "")
            if name in self.editors:
                self.editors[name].show_error(text)
            else:
                loose.append(f"{name}: {text}")
        self.general_error.value = (
            f"<span style='color:#c62828'>⚠ {escape('; '.join(loose))}</span>" if loose else ""
        )

    def errors(self) -> dict[str, str]:
        """Field -> error text currently shown (for tests and scripts)."""
        return {name: e.error.value for name, e in self.editors.items() if e.error.value}
