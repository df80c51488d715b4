"""What a store may save: every value loads back as it was, or is refused when it is saved.

The codec calls these checks on what a step changed (the fields it named and the new
messages), so their cost follows the step, not the state. A refused value raises
`UnsaveableValueError` naming its path (`messages[3].metadata.a.b`) and nothing is saved.

What cannot come back as it was:
- nesting deeper than `MAX_DEPTH` lists, dicts or models (the JSON parser stops there);
- integers of more than 4,300 digits (Python's and the parser's limit for number text);
- strings with a lone surrogate (not encodable as UTF-8);
- where the schema does not say the type (extra fields, `dict[str, Any]`, message metadata),
  anything JSON would give back as another type: datetime, date, set, tuple, bytes, Decimal,
  UUID, Enum, a model or dataclass, a dict with non-string keys;
- in a typed field, any value that its type does not read back equal (checked by reading the
  text back through the field's type).

A subgraph's fields in a thread paused inside it (`/<depth>/<name>`, see `packed`) are typed by
the subgraph's schema, which a store does not see: for those only what JSON cannot hold at all
(depth, digits, surrogates, unknown types) is refused.

Keys like `__class__` or `py/object` are plain data: loading never imports or calls anything.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter
from pydantic_core import PydanticSerializationError, from_json, to_json

from agentflow_nb.checkpointer.packed import FRAME_KEY
from agentflow_nb.errors import UnsaveableValueError
from agentflow_nb.state import AgentState, ExecutionMeta, Message

__all__ = ["MAX_DEPTH", "check_field", "check_message", "check_meta", "unserializable"]

#: Lists, dicts and models one value may nest; the state's own levels stay within the parser's 201.
MAX_DEPTH = 128
_INT_BOUND = 10**4300
_JSON_SCALARS = (str, int, float, bool, type(None))
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_WRAP = 201 - MAX_DEPTH  # wrapping a text in this many arrays makes depth > MAX_DEPTH fail to parse


def check_field(schema: type[AgentState], name: str, value: Any, text: str | bytes | None, *, custom: bool) -> None:
    """Refuse a field value that would not load back as it is. `text` is its JSON (None for a
    value kept as itself); `custom`: the schema has its own serializers (then only check it loads)."""
    kind = type(value)
    if kind in _JSON_SCALARS:
        _check_scalar(value, name)
    elif kind is ExecutionMeta and name == "execution_meta":
        check_meta(value)
    elif name.startswith(FRAME_KEY):  # a subgraph's field, typed by a schema the store cannot see
        problem = _diagnose(value, name, 0)
        if problem is not None:
            raise problem
    elif name in schema.model_fields:
        _round_trip(schema, name, value, to_json(value) if text is None else text, custom=custom)
    else:
        _walk(value, name, 0)


def check_meta(meta: ExecutionMeta) -> None:
    """The engine's metadata: its strings, and the data a node attached to a pause."""
    for key in ("current_node", "next_node", "interrupted_node", "interrupt_reason", "thread_id", "error"):
        text = getattr(meta, key)
        if text is not None:
            _check_str(text, f"execution_meta.{key}")
    if meta.interrupt_data is not None:
        _walk(meta.interrupt_data, "execution_meta.interrupt_data", 1)


def check_message(message: Any, index: int) -> None:
    """A message: its strings, a finite timestamp, and metadata JSON gives back as it is."""
    path = f"messages[{index}]"
    if type(message) is not Message:
        raise _refuse(path, f"is a `{type(message).__name__}`, which would come back as a `Message`",
                      "keep messages `Message` objects; put extra data in `metadata`")
    _check_str(message.message_id, f"{path}.message_id")
    _check_str(message.content, f"{path}.content")
    if not math.isfinite(message.timestamp):
        raise _refuse(f"{path}.timestamp", f"is {message.timestamp}", "use a finite time")
    if message.metadata:
        _walk(message.metadata, f"{path}.metadata", 1)


def unserializable(path: str, value: Any, exc: Exception) -> UnsaveableValueError:
    """The error for a value the JSON encoder refused, naming the part that it refused."""
    found = _diagnose(value, path, 0)
    if found is not None:
        return found
    return _refuse(path, f"cannot be saved as JSON ({exc})", "keep state values to JSON data or typed fields")


def _diagnose(value: Any, path: str, depth: int) -> UnsaveableValueError | None:
    """The first part of `value` that JSON cannot hold: a lone surrogate, an unknown type, or
    nesting too deep (walked through containers and models alike)."""
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        try:
            _check_scalar(value, path) if type(value) in _JSON_SCALARS else None
        except UnsaveableValueError as exc:
            return exc
        return None
    if depth > MAX_DEPTH:
        return _too_deep(path)
    if isinstance(value, Mapping):
        bad_key = _first(_diagnose(k, f"{path} (a key)", depth) for k in value if isinstance(k, str))
        if bad_key is not None:
            return bad_key
        items = [(_join(path, str(k)), v) for k, v in value.items()]
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = [(f"{path}[{i}]", v) for i, v in enumerate(value)]
    elif isinstance(value, BaseModel):
        items = [(_join(path, k), v) for k, v in {**value.__dict__, **(value.__pydantic_extra__ or {})}.items()]
    else:
        try:
            to_json(value)
        except (PydanticSerializationError, ValueError, TypeError):
            return _refuse(path, f"is a `{type(value).__name__}`, which cannot be saved as JSON",
                           "keep state values to JSON data or typed fields")
        return None
    return _first(_diagnose(v, p, depth + 1) for p, v in items)


# -- the checks -------------------------------------------------------------------------------


def _check_str(text: str, path: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start]
        raise _refuse(path, f"holds a lone surrogate (`\\u{ord(bad):04x}` at character {exc.start}), "
                      "which is not text UTF-8 (and JSON) can hold",
                      "decode the bytes it came from with errors='replace'") from None


def _check_int(number: int, path: str) -> None:
    if -_INT_BOUND < number < _INT_BOUND:
        return
    raise _refuse(path, "is an integer of more than 4,300 digits, where JSON readers stop",
                  "store it as a string")


def _check_scalar(value: Any, path: str) -> None:
    """A str, int, float, bool or None: strings and integers have limits, the rest none."""
    kind = type(value)
    if kind is str:
        _check_str(value, path)
    elif kind is int:
        _check_int(value, path)


def _walk(value: Any, path: str, depth: int) -> None:
    """A value where the schema does not say the type: only what JSON gives back as it is."""
    kind = type(value)
    if kind in _JSON_SCALARS:
        _check_scalar(value, path)
    elif depth >= MAX_DEPTH:
        raise _too_deep(path)
    elif kind is list:
        for index, item in enumerate(value):
            _walk(item, f"{path}[{index}]", depth + 1)
    elif kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise _refuse(f"{path}[{key!r}]", f"has a `{type(key).__name__}` key, which would come back as "
                              "a string", "use string keys")
            _check_str(key, f"{path} (a key)")
            _walk(item, _join(path, key), depth + 1)
    else:
        raise _refuse(path, _changes_to(value), "convert it to JSON data yourself (e.g. `.isoformat()`, "
                      "`list(...)`, `.model_dump()`), or declare a field of that type in your state "
                      "schema so that loading restores it")


def _round_trip(schema: type[AgentState], name: str, value: Any, text: str | bytes, *, custom: bool) -> None:
    """Read a typed field's text back through its type: it must load (and be equal, unless the
    schema writes the field its own way)."""
    adapter = _adapter(schema, name)
    if adapter is None:  # a type pydantic cannot read on its own; the schema validates it on load
        return
    if len(text) > MAX_DEPTH and _brackets(text) > MAX_DEPTH:
        wrap = b"[" * _WRAP, b"]" * _WRAP
        try:
            from_json(b"".join((wrap[0], text.encode() if isinstance(text, str) else text, wrap[1])))
        except ValueError:
            raise _too_deep(name) from None
    try:
        loaded = adapter.validate_json(text)
    except ValueError as exc:
        raise _refuse(name, f"would not load back ({_first_line(exc)})",
                      "keep to values its type can read back from JSON") from None
    if custom or loaded == value:
        return
    difference = _difference(value, loaded, name, 0)
    if difference is not None:
        raise _refuse(*difference, "keep to values the field's type gives back as they are")


@lru_cache(maxsize=1024)
def _adapter(schema: type[AgentState], name: str) -> TypeAdapter[Any] | None:
    """The field's own type (and constraints) as a validator of its JSON text."""
    field = schema.model_fields[name]
    kind = Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation  # type: ignore[misc]
    try:
        return TypeAdapter(kind)
    except Exception:  # noqa: BLE001 - e.g. a forward reference only the schema resolves
        return None


def _difference(before: Any, after: Any, path: str, depth: int) -> tuple[str, str] | None:
    """Where `after` (read back) first differs from `before`, and how; None if nowhere."""
    if before is after or depth > MAX_DEPTH + 2:
        return None
    if type(before) is not type(after):
        return path, f"is a `{type(before).__name__}`, which would come back as a `{type(after).__name__}`"
    if isinstance(before, float):
        same = before == after or (math.isnan(before) and math.isnan(after))
        return None if same else (path, f"would come back as {after!r}")
    if isinstance(before, Mapping):
        if list(before) != list(after):
            return path, "would come back with other keys"
        return _first(_difference(before[k], after[k], _join(path, str(k)), depth + 1) for k in before)
    if isinstance(before, (list, tuple)):
        if len(before) != len(after):
            return path, "would come back with another length"
        pairs = enumerate(zip(before, after, strict=True))
        return _first(_difference(b, a, f"{path}[{i}]", depth + 1) for i, (b, a) in pairs)
    if isinstance(before, BaseModel):
        pairs = [*before.__dict__.items(), *(before.__pydantic_extra__ or {}).items()]
        after_values = {**after.__dict__, **(after.__pydantic_extra__ or {})}
        return _first(_difference(v, after_values.get(k), _join(path, k), depth + 1) for k, v in pairs)
    return None if before == after else (path, f"would come back as {_short(after)} instead of {_short(before)}")


def _first(found: Any) -> Any:
    return next((item for item in found if item is not None), None)


def _changes_to(value: Any) -> str:
    name = type(value).__name__
    if isinstance(value, enum.Enum):
        return f"is a `{name}` member, which JSON would give back as its plain value"
    if isinstance(value, (set, frozenset, tuple)):
        return f"is a `{name}`, which JSON would give back as a list"
    if isinstance(value, (BaseModel, Mapping)) or hasattr(value, "__dataclass_fields__"):
        return f"is a `{name}`, which JSON would give back as a plain dict"
    try:
        as_json = to_json(value)
    except (PydanticSerializationError, ValueError, TypeError):
        return f"is a `{name}`, which cannot be saved as JSON"
    kind = type(from_json(as_json)).__name__
    return f"is a `{name}`, which JSON would give back as a `{kind}`"


def _brackets(text: str | bytes) -> int:
    if isinstance(text, str):
        return text.count("[") + text.count("{")
    return text.count(b"[") + text.count(b"{")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if _IDENTIFIER.match(key) else f"{path}[{key!r}]"


def _short(value: Any) -> str:
    text = repr(value)
    return f"`{text[:60]}...`" if len(text) > 60 else f"`{text}`"


def _first_line(exc: Exception) -> str:
    lines = str(exc).splitlines()
    return " ".join(line.strip() for line in lines[1:3]) if len(lines) > 1 else lines[0] if lines else ""


def _too_deep(path: str) -> UnsaveableValueError:
    return _refuse(path, f"nests lists, dicts or models deeper than {MAX_DEPTH} levels, which JSON "
                   "readers refuse", "flatten it")


def _refuse(path: str, problem: str, fix: str) -> UnsaveableValueError:
    return UnsaveableValueError(
        f"`{path}` {problem}, so it could not be loaded back as it is; nothing was saved. Fix: {fix}.",
        path=path,
    )
