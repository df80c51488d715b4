"""One editor per state field, chosen from its type: text, number, checkbox, dropdown, JSON."""

from __future__ import annotations

import enum
import json
import types
import typing
from html import escape
from typing import Any, Literal

import ipywidgets as widgets
from pydantic import BaseModel, TypeAdapter

__all__ = ["FieldEditor", "editor_for"]

LONG_TEXT = 60
_NONE = object()


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


class FieldEditor:
    """A labelled input for one field, with a place for its error and a changed marker."""

    def __init__(self, name: str, annotation: Any, value: Any) -> None:
        self.name = name
        self.annotation = annotation
        inner, self.optional = _unwrap_optional(annotation)
        self.kind, self.input = self._make_input(inner, value)
        self.none = widgets.Checkbox(value=False, description="None", indent=False,
                                     layout=widgets.Layout(width="70px"))
        self.none.observe(lambda _: setattr(self.input, "disabled", self.none.value), "value")
        self.label = widgets.HTML()
        self.error = widgets.HTML()
        row = [self.input, self.none] if self.optional else [self.input]
        self.box = widgets.VBox([self.label, widgets.HBox(row), self.error],
                                layout=widgets.Layout(margin="0 0 6px 0"))
        self.box.add_class("af_field")
        self._loaded: Any = _NONE
        self.set(value)
        self.mark_changed(False)

    def _make_input(self, inner: Any, value: Any) -> tuple[str, widgets.Widget]:
        wide = widgets.Layout(width="100%")
        choices = _choices(inner)
        if choices is not None:
            options = [(str(c.value if isinstance(c, enum.Enum) else c), c) for c in choices]
            return "choice", widgets.Dropdown(options=options, layout=wide)
        if inner is bool:
            return "bool", widgets.Checkbox(indent=False)
        if inner is int:
            return "int", widgets.IntText(layout=wide)
        if inner is float:
            return "float", widgets.FloatText(layout=wide)
        if inner is str:
            text = value if isinstance(value, str) else ""
            if len(text) > LONG_TEXT or "\n" in text:
                return "str", widgets.Textarea(layout=widgets.Layout(width="100%", height="80px"))
            return "str", widgets.Text(layout=wide)
        return "json", widgets.Textarea(layout=widgets.Layout(width="100%", height="90px"))

    def set(self, value: Any) -> None:
        """Show a saved value (and remember it, to tell edits apart)."""
        self._loaded = value
        is_none = value is None and self.optional
        self.none.value = is_none
        if self.kind == "json":
            self.input.value = json.dumps(_jsonable(self.annotation, value), indent=1, default=str)
        elif not is_none and value is not None:
            self.input.value = value
        self.show_error(None)

    def get(self) -> Any:
        """The value in the editor. Raises ValueError for text that is not JSON."""
        if self.optional and self.none.value:
            return None
        if self.kind == "json":
            try:
                return json.loads(self.input.value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
        return self.input.value

    @property
    def dirty(self) -> bool:
        """True when the editor holds something other than the saved value."""
        try:
            value = self.get()
        except ValueError:
            return True
        if self.kind == "json":
            return value != _jsonable(self.annotation, self._loaded)
        return value != self._loaded

    def show_error(self, message: str | None) -> None:
        """Show (or clear) a validation error under the field."""
        self.error.value = (
            f'<span class="af_error_text" style="color:#c62828;font-size:12px">⚠ {escape(message)}</span>'
            if message else ""
        )

    def mark_changed(self, changed: bool) -> None:
        """Flag the field as changed by the last step."""
        dot = ' <span style="color:#ef6c00" title="changed by the last step">● changed</span>' if changed else ""
        kind = escape(_type_name(self.annotation))
        self.label.value = f'<b>{escape(self.name)}</b> <span style="color:#78909c">{kind}</span>{dot}'
        if changed:
            self.box.add_class("af_changed")
        else:
            self.box.remove_class("af_changed")


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) or str(annotation)
    return text.replace("typing.", "")


def _jsonable(annotation: Any, value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    try:
        return TypeAdapter(annotation).dump_python(value, mode="json")
    except Exception:  # noqa: BLE001 - fall back to a best-effort rendering
        return json.loads(json.dumps(value, default=str))


def editor_for(name: str, annotation: Any, value: Any) -> FieldEditor:
    """The editor for a field of type `annotation` holding `value`."""
    return FieldEditor(name, annotation if annotation is not None else Any, value)
