"""What a node's result does to the state it ran on: the new state, where a `Command` goes,
what the result can have changed (`Touched`), and the pause the node asked for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from agentflow_nb.checkpointer.base import appended_since
from agentflow_nb.errors import NodeError
from agentflow_nb.graph.assign import assign_all
from agentflow_nb.graph.command import Command
from agentflow_nb.graph.updates import apply_updates, copy_with, fields_of, refuse_engine_keys
from agentflow_nb.state import AgentState, ExecutionMeta, ExecutionStatus, Message

__all__ = ["Applied", "Touched", "apply_node_result", "apply_result", "interrupt_request", "touched"]

_RETURN_KINDS = (
    "the state, a dict of field updates, a Message or a list of them, a str, "
    "a Command, or None"
)
_ENGINE_FIELDS = ("execution_meta",)
_NOT_FIELDS = frozenset({"messages"})
_META = frozenset({"execution_meta"})


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
    refuse_engine_keys(updates)
    if not updates or "messages" in updates:
        return apply_updates(state, updates, from_user=False)
    new = copy_with(state)  # `apply_updates` for fields alone (the usual result), written out
    assign_all(new, updates)
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
        refuse_engine_keys(returned.__pydantic_extra__)
    if type(returned) is type(before):
        return copy_with(returned, {"execution_meta": before.execution_meta})
    values = {name: value for name, value in fields_of(returned) if name not in _ENGINE_FIELDS}
    messages = values.pop("messages")
    merged = apply_updates(before, values, from_user=False)
    return merged.model_copy(update={"messages": list(messages)})
