"""The state inspector: editors generated from the state's schema, messages, metadata.

It shows one checkpoint: the live one (editable at a pause, read-only while a run goes on) or a
past one picked in History (read-only, under a "viewing step N" banner).
"""

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

    `collect()` checks every edited field at once (syntax, type and constraints) and shows each
    error by its field; `show_errors` places the schema's own errors (cross-field validators).
    A message typed in the box goes in with the next resume.
    """

    def __init__(self, schema: type[AgentState], **kwargs: Any) -> None:
        self.schema = schema
        self.editors: dict[str, FieldEditor] = {}
        self.banner = widgets.HTML(layout=widgets.Layout(flex="1 1 auto", min_width="0"))
        self.back = widgets.Button(description="Back to live", icon="undo",
                                   tooltip="Show the thread as it is now (Esc)",
                                   layout=widgets.Layout(display="none", width="auto", flex="0 0 auto"))
        self.revert_all = widgets.Button(description="Revert edits", icon="undo", disabled=True,
                                         tooltip="Put every edited field back as saved",
                                         layout=widgets.Layout(width="auto"))
        self.revert_all.on_click(lambda _: self.revert())
        self.fields_box = widgets.VBox()
        self.general_error = widgets.HTML()
        self.messages_html = widgets.HTML()
        self.page_label = widgets.Label()
        self.prev_page = widgets.Button(description="◀", tooltip="older messages", layout=widgets.Layout(width="34px"))
        self.next_page = widgets.Button(description="▶", tooltip="newer messages", layout=widgets.Layout(width="34px"))
        self.prev_page.on_click(lambda _: self._turn(-1))
        self.next_page.on_click(lambda _: self._turn(1))
        self.role = widgets.Dropdown(options=["user", "assistant", "system", "tool"], value="user",
                                     layout=widgets.Layout(width="96px"))
        self.text = widgets.Textarea(placeholder="a message to add when the run resumes",
                                     layout=widgets.Layout(width="auto", flex="1 1 auto", height="40px"))
        self.meta_html = widgets.HTML()
        self.meta = widgets.Accordion([self.meta_html], titles=("execution_meta (read-only)",))
        self.meta.selected_index = None
        self._messages: list[Any] = []
        self._new = 0
        self._page = 0
        self.readonly = False
        self._compose = widgets.HBox([self.role, self.text])
        super().__init__([
            widgets.HBox([self.banner, self.back], layout=widgets.Layout(align_items="center")),
            widgets.HBox([widgets.HTML("<span class='af_panel_title'>State</span>",
                                       layout=widgets.Layout(flex="1 1 auto")), self.revert_all]),
            self.fields_box, self.general_error,
            widgets.HTML("<span class='af_panel_title'>Messages</span>"), self.messages_html,
            widgets.HBox([self.prev_page, self.page_label, self.next_page]),
            self._compose, self.meta,
        ], **kwargs)
        self.add_class("af_inspector")

    # -- showing ---------------------------------------------------------------------------

    def load(self, state: AgentState, changed: dict[str, str] | None = None, *, new_messages: int = 0,
             readonly: bool = False, banner: str = "", kind: str = "") -> None:
        """Show `state`, dropping every edit. `changed` maps fields (and `messages`) to the node
        that changed them, which added the last `new_messages` messages; `banner` says what is
        shown (`kind`: viewing or busy, for its colour)."""
        changed = changed or {}
        names = [n for n in type(state).model_fields if n not in _ENGINE] + list(state.model_extra or {})
        if list(self.editors) != names:
            fields = type(state).model_fields
            editors = {}
            for name in names:
                info = fields.get(name)
                editor = editor_for(name, info.annotation if info else None, getattr(state, name), info)
                editor.set_readonly(readonly)
                editor.input.observe(self._edited, "value")
                editor.none.observe(self._edited, "value")
                editors[name] = editor
            self.editors = editors
            self.fields_box.children = [e.box for e in editors.values()]
        self.set_readonly(readonly)  # before the values: never editable while a run's state shows
        for name, editor in self.editors.items():
            editor.set(getattr(state, name))
            editor.mark_changed(changed.get(name))
        self.general_error.value = ""
        self._messages = list(state.messages)
        self._new = new_messages
        self._page = max(0, (len(self._messages) - 1) // PAGE)
        self._show_messages(changed.get("messages"))
        self.show_banner(banner, kind)
        rows = "".join(f"<tr><td>{escape(k)}</td><td>{escape(str(v))}</td></tr>"
                       for k, v in state.execution_meta.model_dump(mode="json").items())
        self.meta_html.value = f"<table class='af_meta'>{rows}</table>"

    def set_readonly(self, readonly: bool) -> None:
        """Lock or unlock every editor and the message box."""
        self.readonly = readonly
        for editor in self.editors.values():
            editor.set_readonly(readonly)
        self.role.disabled = self.text.disabled = readonly
        self._edited()

    def show_banner(self, text: str, kind: str = "") -> None:
        """Say what the panel shows (`kind`: viewing or busy, for its colour; "" for plain)."""
        css = {"viewing": "af_banner af_viewing", "busy": "af_banner af_busy"}.get(kind, "af_banner")
        self.banner.value = f"<div class='{css}'>{text}</div>" if text else ""
        self.back.layout.display = "" if kind == "viewing" else "none"

    def _turn(self, delta: int) -> None:
        last = max(0, (len(self._messages) - 1) // PAGE)
        self._page = min(last, max(0, self._page + delta))
        self._show_messages(None)

    def _show_messages(self, node: str | None) -> None:
        start = self._page * PAGE
        shown = self._messages[start : start + PAGE]
        first_new = len(self._messages) - self._new
        rows = "".join(
            f"<div class='af_msg{' af_new' if start + i >= first_new else ''}'><b>{escape(m.role)}</b> "
            f"{escape(m.content)}</div>"
            for i, m in enumerate(shown)
        )
        mark = (f"<div class='af_mark_changed'>● {self._new} new from {escape(node)}</div>"
                if node and self._new else "")
        self.messages_html.value = f"<div class='af_msgs'>{rows or '<i>no messages</i>'}</div>{mark}"
        total = len(self._messages)
        self.page_label.value = f"{start + 1 if total else 0}–{start + len(shown)} of {total}"
        self.prev_page.disabled = self._page == 0
        self.next_page.disabled = start + PAGE >= total

    # -- editing ---------------------------------------------------------------------------

    @property
    def dirty(self) -> list[str]:
        """The fields edited but not applied yet."""
        return [name for name, e in self.editors.items() if e.dirty]

    def _edited(self, _: Any = None) -> None:
        self.revert_all.disabled = self.readonly or not self.dirty

    def revert(self) -> None:
        """Put every edited field back as saved."""
        for editor in self.editors.values():
            editor.reset()
        self.general_error.value = ""

    def collect(self) -> dict[str, Any] | None:
        """The edited fields as checked values, or None when one is wrong: then every wrong
        field shows its error (syntax, type and constraints, all in one pass)."""
        edits: dict[str, Any] = {}
        ok = True
        for name, editor in self.editors.items():
            if not editor.dirty:
                editor.show_error(None)
                continue
            try:
                edits[name] = editor.parse()
                editor.show_error(None)
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

    def show_errors(self, error: ValidationError) -> list[str]:
        """Put each of the schema's validation errors next to its field; returns the ones that
        belong to no single field (a validator over several), also shown under the fields."""
        loose = []
        for item in error.errors():
            loc = item.get("loc") or ()
            name = str(loc[0]) if loc else ""
            detail = ".".join(map(str, loc[1:]))
            text = f"{item['msg']}" + (f" (at {detail})" if detail else "")
            if name in self.editors:
                self.editors[name].show_error(text)
            else:
                loose.append(f"{name}: {text}" if name else text)
        self.general_error.value = (
            f"<span class='af_error_text'>⚠ {escape('; '.join(loose))}</span>" if loose else ""
        )
        return loose

    def errors(self) -> dict[str, str]:
        """Field -> error text currently shown (for tests and scripts)."""
        return {name: e.error.value for name, e in self.editors.items() if e.error.value}
