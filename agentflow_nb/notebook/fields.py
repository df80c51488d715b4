"""One editor per state field, chosen from its type: text, number, checkbox, dropdown, JSON.

Like a debugger's variables view: every editor shows the saved value, marks a value the last
node changed, marks an edit not yet applied (with Revert), and checks what is typed against the
field's type and constraints, so every error shows at once, next to its field.
"""

from __future__ import annotations

import enum
import json
import types
import typing
from html import escape
from typing import Annotated, Any, Literal

import ipywidgets as widgets
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

__all__ = ["FieldEditor", "editor_for", "type_name"]

LONG_TEXT = 60
_UNSET = object()


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(annotation)) == 2:
            return args[0], True
    return annotation, False


def _choices(annotation: Any) -> list[Any] | None:
    if typing.get_origin(annotation) is Literal:
        return list(typing.get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return list(annotation)
    return None


def type_name(annotation: Any) -> str:
    """A short, readable name of a field's type: `int`, `list[str]`, `"EUR" | "USD"`, `str | None`."""
    inner, optional = _unwrap_optional(annotation)
    if typing.get_origin(inner) is Literal:
        text = " | ".join(json.dumps(v) if isinstance(v, str) else repr(v) for v in typing.get_args(inner))
    elif isinstance(inner, type) and not typing.get_args(inner):
        text = inner.__name__
    else:
        text = str(inner).replace("typing.", "")
    text = text if len(text) <= 40 else text[:39] + "…"
    return f"{text} | None" if optional else text


class FieldEditor:
    """A labelled input for one field, with its error, a changed mark, an edited mark and Revert."""

    def __init__(self, name: str, annotation: Any, value: Any, info: FieldInfo | None = None) -> None:
        self.name = name
        self.annotation = annotation
        inner, self.optional = _unwrap_optional(annotation)
        self.kind, self.input = self._make_input(inner, value)
        self._check = TypeAdapter(Annotated[annotation, info] if info is not None else annotation)
        self.none = widgets.Checkbox(value=False, description="None", indent=False,
                                     layout=widgets.Layout(width="64px", flex="0 0 auto"))
        self.label = widgets.HTML()
        self.label.add_class("af_field_label")
        self.revert = widgets.Button(description="revert", icon="undo", tooltip=f"Put `{name}` back as saved",
                                     layout=widgets.Layout(display="none", width="auto"))
        self.revert.add_class("af_revert")
        self.revert.on_click(lambda _: self.reset())
        self.error = widgets.HTML()
        row = [self.input, self.none] if self.optional else [self.input]
        self.box = widgets.VBox([widgets.HBox([self.label, self.revert]), widgets.HBox(row), self.error],
                                layout=widgets.Layout(margin="0 0 4px 0"))
        self.box.add_class("af_field")
        self.changed_by: str | None = None
        self._loaded: tuple[Any, bool] = ("", False)
        self._value: Any = _UNSET
        self._readonly = False
        self.input.observe(self._edited, "value")
        self.none.observe(self._edited, "value")
        self.set(value)

    def _make_input(self, inner: Any, value: Any) -> tuple[str, widgets.Widget]:
        wide = widgets.Layout(width="auto", flex="1 1 auto")
        choices = _choices(inner)
        if choices is not None:
            options = [(str(c.value if isinstance(c, enum.Enum) else c), c) for c in choices]
            return "choice", widgets.Dropdown(options=options, layout=wide)
        if inner is bool:
            return "bool", widgets.Checkbox(indent=False, layout=widgets.Layout(width="auto"))
        if inner in (int, float):  # a text box: what is typed is checked, never silently made 0
            return "number", widgets.Text(layout=wide, continuous_update=True)
        if inner is str:
            text = value if isinstance(value, str) else ""
            if len(text) > LONG_TEXT or "\n" in text:
                return "str", widgets.Textarea(layout=widgets.Layout(width="auto", flex="1 1 auto", height="64px"))
            return "str", widgets.Text(layout=wide)
        return "json", widgets.Textarea(layout=widgets.Layout(width="auto", flex="1 1 auto", height="72px"))

    # -- showing ---------------------------------------------------------------------------

    def set(self, value: Any) -> None:
        """Show a saved value, dropping any edit and error (nothing leaks from what was shown)."""
        self._value = value
        is_none = value is None and self.optional
        raw = self._raw_of(None if is_none else value)
        self._loaded = (raw, is_none)
        self._put(raw, is_none)
        self.show_error(None)

    def reset(self) -> None:
        """Revert to the saved value."""
        self._put(*self._loaded)
        self.show_error(None)

    def _put(self, raw: Any, is_none: bool) -> None:
        self.input.value = raw
        self.none.value = is_none
        self.input.disabled = self._readonly or is_none
        self._edited()

    def _raw_of(self, value: Any) -> Any:
        """What the input holds for `value` (None: an empty input)."""
        if self.kind == "json":
            return "" if value is None else json.dumps(_jsonable(self.annotation, value), indent=1, default=str)
        if self.kind == "choice":
            options = [v for _, v in self.input.options]
            return value if value in options else options[0]
        if self.kind == "bool":
            return bool(value)
        if self.kind == "number":
            return "" if value is None else repr(value) if isinstance(value, float) else str(value)
        return "" if value is None else str(value)

    def set_readonly(self, readonly: bool) -> None:
        """Lock the editor (a run is going, a past step is shown) or unlock it."""
        self._readonly = readonly
        self.input.disabled = readonly or self.none.value
        self.none.disabled = readonly
        self._edited()

    # -- editing ---------------------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        """True when the editor holds something other than the saved value."""
        return (self.input.value, self.none.value) != self._loaded

    def parse(self) -> Any:
        """The value in the editor, checked against the field's type and constraints.

        Raises:
            ValueError: with a message fit to show by the field.
        """
        if self.optional and self.none.value:
            return None
        raw = self.input.value
        if self.kind == "json":
            if not raw.strip():
                raise ValueError("empty: enter a JSON value (tick None for no value)" if self.optional
                                 else "empty: enter a JSON value")
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
        elif self.kind == "number" and not raw.strip():
            raise ValueError("empty: enter a number" + (" (or tick None)" if self.optional else ""))
        try:
            return self._check.validate_python(raw.strip() if self.kind == "number" else raw)
        except ValidationError as exc:
            raise ValueError(_say(exc)) from None

    def as_json(self, value: Any) -> Any:
        """A checked value of this field as JSON-ready data (for copy-as-code)."""
        return self._check.dump_python(value, mode="json")

    def show_error(self, message: str | None) -> None:
        """Show (or clear) an error under the field."""
        self.error.value = f'<span class="af_error_text">⚠ {escape(message)}</span>' if message else ""
        _toggle(self.box, "af_invalid", bool(message))

    def mark_changed(self, node: str | None) -> None:
        """Mark the field as changed by `node`, the last node that ran (None: not changed)."""
        self.changed_by = node
        self._edited()

    def _edited(self, _: Any = None) -> None:
        dirty = self.dirty and not self._readonly
        self.input.disabled = self._readonly or bool(self.optional and self.none.value)
        self.revert.layout.display = "" if dirty else "none"
        _toggle(self.box, "af_dirty", dirty)
        _toggle(self.box, "af_changed", self.changed_by is not None)
        marks = ""
        if self.changed_by is not None:
            marks += (f' <span class="af_mark_changed" title="the last node that ran changed it">'
                      f"● changed by {escape(self.changed_by)}</span>")
        if dirty:
            marks += ' <span class="af_mark_dirty" title="applied when you Resume or Step">✎ edited</span>'
        self.label.value = (f"<b>{escape(self.name)}</b> <span class='af_dim'>{escape(type_name(self.annotation))}"
                            f"</span>{marks}")


def _toggle(widget: widgets.DOMWidget, css: str, on: bool) -> None:
    if on:
        widget.add_class(css)
    else:
        widget.remove_class(css)


def _say(error: ValidationError) -> str:
    """A validation error as one line: the message, and where inside the value."""
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item.get("loc", ()) if p != "function-after")
        parts.append(item["msg"] + (f" (at {where})" if where else ""))
    return "; ".join(parts)


def _jsonable(annotation: Any, value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    try:
        return TypeAdapter(annotation).dump_python(value, mode="json")
    except Exception:  # noqa: BLE001 - fall back to a best-effort rendering
        return json.loads(json.dumps(value, default=str))


def editor_for(name: str, annotation: Any, value: Any, info: FieldInfo | None = None) -> FieldEditor:
    """The editor for a field of type `annotation` (with its pydantic `info`) holding `value`."""
    return FieldEditor(name, annotation if annotation is not None else Any, value, info)
