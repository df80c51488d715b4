"""Setting a node's results on a new state as pydantic's `setattr` would, validating each, with
no more work than validation needs (at every step)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from pydantic import BaseModel

from agentflow_nb.state import AgentState

__all__ = ["assign_all"]


def assign_all(new: AgentState, values: Mapping[str, Any]) -> None:
    """Set a node's results but `messages` on `new` (a fresh copy) as `setattr` would, validating
    each. A value that is exactly of a plain field's type (see `_plain_fields`) is one validation
    would keep as it is: it is stored directly, as pydantic stores it."""
    assign, plain, fields = _assigning(type(new))
    if assign is None:
        for name, value in values.items():
            if name != "messages":
                setattr(new, name, value)
        return
    for name, value in values.items():
        kinds = plain.get(name)
        if kinds is not None and type(value) in kinds:
            new.__dict__[name] = value
            new.__pydantic_fields_set__.add(name)
        elif name == "messages":
            continue
        elif name in fields:
            assign(new, name, value)  # what `setattr` ends in for a declared field
        else:
            setattr(new, name, value)


#: Core schema types whose validator returns a value of exactly this Python type unchanged.
_PASSED = {"int": (int,), "bool": (bool,), "float": (float,), "str": (str,)}
#: Model settings under which a str may still be changed or refused.
_STR_SETTINGS = ("str_strip_whitespace", "str_to_lower", "str_to_upper", "str_max_length", "str_min_length")


@lru_cache(maxsize=256)
def _plain_fields(cls: type[BaseModel]) -> dict[str, tuple[type, ...]]:
    """Per declared field of `cls` that pydantic validates by its type alone (int, bool, float,
    str, optionally None; no constraint, validator or frozen flag, in a model with no model
    validator), the exact types its validation keeps unchanged. Anything else: not listed,
    validated as usual."""
    schema = cls.__pydantic_core_schema__
    if schema.get("type") != "model" or schema["schema"].get("type") != "model-fields":
        return {}  # model validators wrap the model: every assignment goes through them
    config = schema.get("config") or {}
    plain = {}
    for name, field in schema["schema"]["fields"].items():
        kinds = None if field.get("frozen") else _kinds(field["schema"], config)
        if kinds:
            plain[name] = kinds
    return plain


def _kinds(schema: Mapping[str, Any], config: Mapping[str, Any]) -> tuple[type, ...] | None:
    if schema["type"] == "default":
        schema = schema["schema"]
    nullable = schema["type"] == "nullable"
    if nullable:
        schema = schema["schema"]
    kind = schema["type"]
    if kind not in _PASSED or schema.keys() - {"type", "metadata", "strict"}:
        return None  # constraints, validators, or a type validation may convert
    if kind == "str" and any(config.get(key) is not None and config.get(key) is not False for key in _STR_SETTINGS):
        return None
    if kind == "float" and config.get("allow_inf_nan") is False:  # NaN and infinities are refused
        return None
    return _PASSED[kind] + ((type(None),) if nullable else ())


@lru_cache(maxsize=256)
def _assigning(
    cls: type[BaseModel],
) -> tuple[Callable[[BaseModel, str, Any], Any] | None, dict[str, tuple[type, ...]], dict[str, Any]]:
    """How `assign_all` sets fields of `cls`: the validator pydantic's `setattr` calls for a
    declared field (None unless the schema validates assignments and is not frozen), to call it
    without `setattr`'s own dispatch; `_plain_fields(cls)`; and the declared fields."""
    config = cls.model_config
    if not config.get("validate_assignment") or config.get("frozen"):
        return None, {}, cls.__pydantic_fields__
    return cls.__pydantic_validator__.validate_assignment, _plain_fields(cls), cls.__pydantic_fields__
