"""How input, edits and node results change a state. Every function returns a new state."""

from __future__ import annotations

import copy
import enum
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel, TypeAdapter

from agentflow_nb.checkpointer.base import FRAME_KEY, appended_since
from agentflow_nb.errors import NodeError, UnknownFieldError, did_you_mean
from agentflow_nb.graph.command import Command
from agentflow_nb.state import AgentState, ExecutionMeta, ExecutionStatus, Message

__all__ = [
    "Applied",
    "apply_input",
    "apply_node_result",
    "apply_result",
    "copy_with",
    "new_fields_of",
    "new_state",
    "interrupt_request",
    "node_copy",
    "own_thread",
    "set_fields",
    "touched",
    "Touched",
    "with_meta",
]

M = TypeVar("M", bound=BaseModel)
_MESSAGES = TypeAdapter(list[Message])
_ENGINE_FIELDS = ("execution_meta",)
_RETURN_KINDS = (
    "the state, a dict of field updates, a Message or a list of them, a str, "
    "a Command, or None"
)


def copy_with(model: M, update: Mapping[str, Any] | None = None) -> M:
    """`model.model_copy(update=update)` (a shallow copy, nothing validated), made directly:
    the engine copies states and their metadata several times a step, and pydantic's general
    copy costs about twice this one. Keys that are not fields go to the extra fields."""
    cls = type(model)
    copy = _new(cls)
    values = copy.__dict__
    values.update(model.__dict__)
    extra = model.__pydantic_extra__
    if extra is not None:
        extra = extra.copy()
    if update:
        known = cls.__pydantic_fields__
        if extra is None or update.keys() <= known.keys():  # the usual case: fields only
            values.update(update)
        else:
            for name, value in update.items():
                if name in known:
                    values[name] = value
                else:
                    extra[name] = value
        _set_fields_set(copy, model.__pydantic_fields_set__.union(update))
    else:
        _set_fields_set(copy, model.__pydantic_fields_set__.copy())
    _set_extra(copy, extra)
    private = model.__pydantic_private__
    _set_private(copy, private if private is None else private.copy())
    return copy


# pydantic's own slots, set the way `model_copy` sets them, without `object.__setattr__`'s lookup
_new = object.__new__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def with_meta(state: AgentState, **changes: Any) -> AgentState:
    """A shallow copy of `state` with new execution metadata (the old one is left as it was)."""
    return copy_with(state, {"execution_meta": copy_with(state.execution_meta, changes)})


def own_thread(state: AgentState, thread_id: str) -> AgentState:
    """`state` as a state of `thread_id`: loaded data may name another thread (a copied file)."""
    if state.execution_meta.thread_id == thread_id:
        return state
    return with_meta(state, thread_id=thread_id)


_IMMUTABLE = (int, float, str, bool, bytes, type(None), enum.Enum, frozenset)
_SCALARS = frozenset({int, float, str, bool, type(None)})  # the common immutable types, tested first
_NOT_FIELDS = frozenset({"messages"})
_META = frozenset({"execution_meta"})
_OWN_COPIES = frozenset({"messages", "execution_meta"})  # copied by `node_copy` in their own way


def node_copy(state: AgentState, meta: ExecutionMeta | None = None) -> AgentState:
    """The copy a node receives: mutable fields deep-copied; messages (immutable) shared.
    `meta`: the metadata the node sees instead of the state's own (a fresh copy).

    Made directly, as `copy_with` makes its copies: the engine makes one at every step."""
    new = _new(type(state))
    values = new.__dict__
    values.update(state.__dict__)
    for name, value in values.items():  # values replaced in place: the keys, and so the iteration, hold
        if type(value) not in _SCALARS and name not in _OWN_COPIES and not isinstance(value, _IMMUTABLE):
            values[name] = copy.deepcopy(value)
    values["messages"] = list(values["messages"])
    values["execution_meta"] = meta or copy_with(values["execution_meta"])
    extra = state.__pydantic_extra__
    if extra:
        extra = {name: value if type(value) in _SCALARS or isinstance(value, _IMMUTABLE) else copy.deepcopy(value)
                 for name, value in extra.items()}
    elif extra is not None:
        extra = {}
    _set_fields_set(new, state.__pydantic_fields_set__ | _OWN_COPIES)
    _set_extra(new, extra)
    private = state.__pydantic_private__
    _set_private(new, private if private is None else private.copy())
    return new


def _fields(state: AgentState) -> Iterable[tuple[str, Any]]:
    values = state.__dict__
    for name in type(state).__pydantic_fields__:
        yield name, values[name]
    if state.model_extra:
        yield from state.model_extra.items()


def set_fields(state: AgentState, values: Mapping[str, Any]) -> AgentState:
    """`state` with `values` set, all validated together by its schema (extra fields kept as
    such where the schema allows them). Raises `pydantic.ValidationError`."""
    return state.model_copy(update=_validated_fields(state, values))


def _validated_fields(state: AgentState, values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate `values` as fields of `state`'s schema; raises `pydantic.ValidationError`."""
    data = {name: value for name, value in _fields(state) if name != "messages"}
    data.update(values)
    data["messages"] = []
    checked = type(state).model_validate(data)
    return {name: getattr(checked, name) for name in values}


def _append(state: AgentState, items: Any, *, from_user: bool) -> list[Message]:
    """Messages after appending `items`; user input is added once per message id."""
    new = _MESSAGES.validate_python(items)
    old = state.messages
    if old and appended_since(old, new) is not None:  # handed back the whole list, plus more
        new = new[len(old) :]
    if from_user and new:
        seen = {m.message_id for m in old}
        fresh = []
        for message in new:
            if message.message_id not in seen:
                seen.add(message.message_id)
                fresh.append(message)
        new = fresh
    return old + new if new else old


def _apply_updates(state: AgentState, updates: Mapping[str, Any], *, from_user: bool) -> AgentState:
    """Apply input or edits (`from_user`: all fields validated together, messages once per id)
    or a node's result (validated as assignments, on the hot path). The caller has refused the
    engine's own keys (`_refuse_engine_keys`)."""
    if not updates:
        return state
    messages = _append(state, updates["messages"] or [], from_user=from_user) if "messages" in updates else None
    if messages is state.messages and len(updates) == 1:  # only messages, and every one was there already
        return state
    if from_user:  # input and edits: validate every field together, report every error
        new = copy_with(state, _validated_fields(state, {k: v for k, v in updates.items() if k != "messages"}))
    else:  # a node's result: validate field by field, as assignments
        new = copy_with(state)
        _assign_all(new, updates)
    if messages is not None:
        new.__dict__["messages"] = messages
    return new


def _assign_all(new: AgentState, values: Mapping[str, Any]) -> None:
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
    """How `_assign_all` sets fields of `cls`: the validator pydantic's `setattr` calls for a
    declared field (None unless the schema validates assignments and is not frozen), to call it
    without `setattr`'s own dispatch; `_plain_fields(cls)`; and the declared fields."""
    config = cls.model_config
    if not config.get("validate_assignment") or config.get("frozen"):
        return None, {}, cls.__pydantic_fields__
    return cls.__pydantic_validator__.validate_assignment, _plain_fields(cls), cls.__pydantic_fields__


def _refuse_engine_keys(updates: Mapping[str, Any]) -> None:
    """Refuse keys the engine keeps for itself (`execution_meta`, the frames of subgraphs)."""
    for name in updates:  # at every step: a plain loop, with nothing built unless a key is bad
        if type(name) is not str or name[:1] == FRAME_KEY or name in _ENGINE_FIELDS:
            break
    else:
        return
    bad = [name for name in updates if name in _ENGINE_FIELDS or str(name).startswith(FRAME_KEY)]
    if not bad:
        return
    if bad[0] in _ENGINE_FIELDS:
        raise ValueError(
            f"`{bad[0]}` is managed by the engine and cannot be set from input or updates; "
            "to pause from a node call `state.set_interrupt(...)`"
        )
    raise ValueError(
        f"`{bad[0]}`: field names starting with `{FRAME_KEY}` are reserved for the state of "
        "subgraphs in saved threads; choose another name"
    )


def apply_input(
    state: AgentState,
    values: Mapping[str, Any] | None,
    *,
    new_fields: Iterable[str] | bool = (),
) -> AgentState:
    """Merge user input or an edit: messages appended once per id, other fields validated.

    A key must be `messages`, a field of the schema, or an extra field the state already has:
    a typo must not quietly become a new field. `new_fields` names keys that may add new extra
    fields (True: any key, as for the input that starts a thread).

    Raises:
        UnknownFieldError: a key is none of those (with a did-you-mean).
        pydantic.ValidationError: a value does not fit the schema (nothing is changed).
        TypeError: `values` is not a mapping.
    """
    if values is None:
        return state
    _check_input(values)
    if not values:  # `{}`: just resume
        return state
    if new_fields is not True:
        _check_keys(state, values, new_fields)
    return _apply_updates(state, values, from_user=True)


def new_state(schema: type[AgentState], thread_id: str, input: Mapping[str, Any] | None) -> AgentState:
    """A new thread's first state, built by `schema` from `input` (its fields validated together,
    so required ones can come from it; its messages appended once per id).

    Raises: as `apply_input`.
    """
    if input is None:
        input = {}
    _check_input(input)
    state = schema.model_validate({k: v for k, v in input.items() if k != "messages"})
    values = state.__dict__  # a state just made, held by nobody else: completed in place
    values["execution_meta"] = copy_with(values["execution_meta"], {"thread_id": thread_id})
    state.__pydantic_fields_set__.add("execution_meta")
    if input.get("messages"):
        values["messages"] = _append(state, input["messages"], from_user=True)
    return state


def _check_input(values: Any) -> None:
    """Refuse input that is not a mapping, or that sets the engine's own keys."""
    if not isinstance(values, Mapping):
        raise TypeError(
            f"input must be a dict of state fields, e.g. "
            f'{{"messages": [Message.text_message("hi")]}}; got a `{type(values).__name__}`'
        )
    _refuse_engine_keys(values)


def _check_keys(state: AgentState, values: Mapping[str, Any], new_fields: Iterable[str] | bool) -> None:
    schema = type(state)
    known = [*schema.model_fields, *(state.__pydantic_extra__ or {})]
    allowed = set(known) | set(new_fields if not isinstance(new_fields, bool) else ())
    for key in values:
        if key not in allowed:
            thread = state.execution_meta.thread_id
            hint = did_you_mean(str(key), [k for k in known if k != "execution_meta"]) or "."
            raise UnknownFieldError(
                f"`{key}` is neither a field of `{schema.__name__}` nor already in the state of thread "
                f"`{thread}`{hint} To add it as a new field on purpose, name it in the config: "
                f'{{"thread_id": "{thread}", "new_fields": ["{key}"]}}; or declare it in your state class.'
            )


def new_fields_of(config: Mapping[str, Any]) -> Iterable[str] | bool:
    """The `new_fields` a config allows (a list of keys, or True for any)."""
    allowed = config.get("new_fields", ())
    if allowed is True:
        return True
    if isinstance(allowed, (list, tuple, set, frozenset)) and all(isinstance(k, str) for k in allowed):
        return allowed
    raise TypeError(f'config["new_fields"] must be a list of field names (or True), got `{allowed!r}`')


def interrupt_request(working: AgentState, result: Any) -> ExecutionMeta | None:
    """The pause a node asked for with `set_interrupt`, on its copy or on what it returned."""
    if type(result) is not dict:  # the usual result, a dict, holds no metadata: not looked at
        if isinstance(result, Command):
            result = result.update
        if isinstance(result, AgentState) and result.execution_meta.status in _PAUSES:
            return result.execution_meta
    meta = working.execution_meta  # the node's own copy: always a state
    return meta if meta.status in _PAUSES else None


_PAUSES = frozenset({ExecutionStatus.INTERRUPTED_BEFORE, ExecutionStatus.INTERRUPTED_AFTER})


class Touched(NamedTuple):
    """What a node's result can have changed, known without comparing states."""

    fields: frozenset[str] | None  # fields besides messages (None: any of them)
    kept: int | None  # the messages before this index are the old ones, as they were (None: unknown)


_tuple_new = tuple.__new__


def touched(before: AgentState, result: Any) -> Touched:
    """What `result` can change in `before`: every kind but a whole state only appends messages."""
    if type(result) is dict:  # the usual result: checked first, by type; the tuple made directly
        return _tuple_new(Touched, (_touched_keys(result), len(before.messages)))
    if isinstance(result, Command):
        result = result.update
    if isinstance(result, AgentState):  # any field; the messages walked once, here, for all who ask
        return Touched(None, appended_since(before.messages, result.messages))
    keys = frozenset(k for k in result if k != "messages") if isinstance(result, Mapping) else frozenset()
    return Touched(keys | _META, len(before.messages))


_KEYS: dict[tuple[Any, ...], frozenset[str]] = {}


def _touched_keys(result: dict[str, Any]) -> frozenset[str]:
    """The fields a dict result touches: its keys but `messages`, and the metadata. A node returns
    the same keys at every visit: the set is made once per key tuple (a tuple hashes faster than
    sets are built)."""
    keys = tuple(result)
    found = _KEYS.get(keys)
    if found is None:
        if len(_KEYS) >= 1024:  # results with ever new keys: start over rather than grow
            _KEYS.clear()
        found = _KEYS[keys] = frozenset(keys) - _NOT_FIELDS | _META
    return found


class Applied(NamedTuple):
    """What a node's result does to the state it ran on (see `apply_node_result`)."""

    state: AgentState  # the new state (its metadata still the old one)
    goto: str | None  # where a `Command` says to go
    hint: Touched  # what the result can have changed
    request: ExecutionMeta | None  # the pause the node asked for with `set_interrupt`, if any


def apply_node_result(node: str, thread_id: str, before: AgentState, working: AgentState, result: Any) -> Applied:
    """`apply_result`, `touched` and `interrupt_request` at once: what `result`, returned by `node`
    given `working` (its copy of `before`), makes of `before`.

    Raises:
        NodeError: the node returned something a node may not return.
        pydantic.ValidationError: a dict update does not fit the schema.
        ValueError: the result sets a key the engine keeps for itself.
    """
    if type(result) is dict:  # the usual result, at every step: no metadata in it, the tuples made directly
        meta = working.execution_meta
        hint = _tuple_new(Touched, (_touched_keys(result), len(before.messages)))
        return _tuple_new(Applied, (_apply_dict(before, result), None, hint, meta if meta.status in _PAUSES else None))
    state, goto = apply_result(node, thread_id, before, result)
    return Applied(state, goto, touched(before, result), interrupt_request(working, result))


def _apply_dict(state: AgentState, updates: Mapping[str, Any]) -> AgentState:
    """A node's dict (or other mapping) of updates applied to `state`."""
    _refuse_engine_keys(updates)
    if not updates or "messages" in updates:
        return _apply_updates(state, updates, from_user=False)
    new = copy_with(state)  # `_apply_updates` for fields alone (the usual result), written out
    _assign_all(new, updates)
    return new


def apply_result(
    node: str, thread_id: str, before: AgentState, result: Any
) -> tuple[AgentState, str | None]:
    """The state after `node` returned `result`, and where a `Command` says to go.

    Raises:
        NodeError: the node returned something a node may not return.
        pydantic.ValidationError: a dict update does not fit the schema.
        ValueError: the result sets a key the engine keeps for itself.
    """
    if type(result) is dict:  # the usual result: checked first, by type
        return _apply_dict(before, result), None
    if isinstance(result, Command):
        state, _ = apply_result(node, thread_id, before, result.update)
        return state, result.goto
    if result is None:
        return before, None
    if isinstance(result, AgentState):
        return _from_returned_state(before, result), None
    if isinstance(result, Mapping):
        return _apply_dict(before, result), None
    if isinstance(result, str):
        result = Message.text_message(result, role="assistant")
    if isinstance(result, Message):
        result = [result]
    if isinstance(result, list) and all(isinstance(m, Message) for m in result):
        return copy_with(before, {"messages": before.messages + result}), None
    raise NodeError(
        f"node `{node}` returned a `{type(result).__name__}`; a node may return {_RETURN_KINDS}",
        node=node,
        thread_id=thread_id,
    )


def _from_returned_state(before: AgentState, returned: AgentState) -> AgentState:
    """Take a returned state's fields; the engine keeps its own execution metadata."""
    if returned.__pydantic_extra__:  # an extra set by `setattr` must not pass for a subgraph's frame
        _refuse_engine_keys(returned.__pydantic_extra__)
    if type(returned) is type(before):
        return copy_with(returned, {"execution_meta": before.execution_meta})
    values = {name: value for name, value in _fields(returned) if name not in _ENGINE_FIELDS}
    messages = values.pop("messages")
    merged = _apply_updates(before, values, from_user=False)
    return merged.model_copy(update={"messages": list(messages)})
