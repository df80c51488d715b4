"""How input, edits and node results change a state. Every function returns a new state."""

from __future__ import annotations

import copy
import enum
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter

from agentflow_nb.checkpointer.base import FRAME_KEY, appended_since
from agentflow_nb.graph.assign import assign_all
from agentflow_nb.errors import UnknownFieldError, did_you_mean
from agentflow_nb.state import AgentState, ExecutionMeta, Message, _set_extra, _set_fields_set, _set_private

__all__ = [
    "apply_input",
    "apply_updates",
    "copy_with",
    "fields_of",
    "new_fields_of",
    "new_state",
    "node_copy",
    "own_thread",
    "refuse_engine_keys",
    "set_fields",
    "with_meta",
]

M = TypeVar("M", bound=BaseModel)
_MESSAGES = TypeAdapter(list[Message])
_ENGINE_FIELDS = ("execution_meta",)


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


# pydantic's own slots are set the way `model_copy` sets them (`state._set_fields_set` & co.),
# without `object.__setattr__`'s lookup
_new = object.__new__


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


def fields_of(state: AgentState) -> Iterable[tuple[str, Any]]:
    """The state's fields and extra fields, as name and value."""
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
    data = {name: value for name, value in fields_of(state) if name != "messages"}
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


def apply_updates(state: AgentState, updates: Mapping[str, Any], *, from_user: bool) -> AgentState:
    """Apply input or edits (`from_user`: all fields validated together, messages once per id)
    or a node's result (validated as assignments, on the hot path). The caller has refused the
    engine's own keys (`refuse_engine_keys`)."""
    if not updates:
        return state
    messages = _append(state, updates["messages"] or [], from_user=from_user) if "messages" in updates else None
    if messages is state.messages and len(updates) == 1:  # only messages, and every one was there already
        return state
    if from_user:  # input and edits: validate every field together, report every error
        new = copy_with(state, _validated_fields(state, {k: v for k, v in updates.items() if k != "messages"}))
    else:  # a node's result: validate field by field, as assignments
        new = copy_with(state)
        assign_all(new, updates)
    if messages is not None:
        new.__dict__["messages"] = messages
    return new


def refuse_engine_keys(updates: Mapping[str, Any]) -> None:
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
    return apply_updates(state, values, from_user=True)


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
    if type(values) is not dict and not isinstance(values, Mapping):  # a dict, tested first: at every run
        raise TypeError(
            f"input must be a dict of state fields, e.g. "
            f'{{"messages": [Message.text_message("hi")]}}; got a `{type(values).__name__}`'
        )
    refuse_engine_keys(values)


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
