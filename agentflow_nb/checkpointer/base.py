"""The checkpointer interface, the `Checkpoint` record and the JSON codec they share.

A checkpointer saves one `Checkpoint` per step. The engine tells it what the step changed
(`StateChanges`) so a store can write only that: new messages and changed fields. Loading goes
through the state schema from JSON text alone; nothing named in the data is imported or called.
"""

from __future__ import annotations

import json
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from enum import Enum
from functools import lru_cache
from typing import Any, ClassVar, Literal, NamedTuple

from pydantic import BaseModel
from pydantic_core import to_json

from agentflow_nb.errors import ThreadBusyError
from agentflow_nb.state import AgentState, ExecutionMeta, ExecutionStatus

__all__ = [
    "BaseCheckpointer",
    "Checkpoint",
    "CheckpointSource",
    "StateChanges",
    "appended_since",
    "decode_state",
    "encode_fields",
    "encode_messages",
    "freeze_fields",
    "new_checkpoint_id",
    "thaw",
]

CheckpointSource = Literal["run", "edit", "fork"]
MESSAGES = "messages"


def new_checkpoint_id(now: int | None = None) -> str:
    """A fresh, time-ordered checkpoint id."""
    return f"{now or time.time_ns():020d}-{os.urandom(4).hex()}"


class Checkpoint(NamedTuple):
    """One saved step of a thread; immutable. Loads hand out fresh copies of `state`."""

    checkpoint_id: str
    thread_id: str
    step: int
    node: str | None
    status: ExecutionStatus
    source: CheckpointSource
    parent_id: str | None
    state: AgentState
    created_at: float = 0.0

    @classmethod
    def of(
        cls,
        state: AgentState,
        *,
        source: CheckpointSource = "run",
        parent_id: str | None = None,
        thread_id: str | None = None,
    ) -> Checkpoint:
        """A new checkpoint of `state` in `thread_id` (default: the state's own), its position read
        from `state.execution_meta`. The engine always passes the caller's thread id."""
        meta = state.execution_meta
        now = time.time_ns()
        thread = thread_id if thread_id is not None else meta.thread_id or ""
        return cls(new_checkpoint_id(now), thread, meta.step, meta.current_node, meta.status,
                   source, parent_id, state, now / 1e9)


class StateChanges:
    """What a checkpoint changed relative to its parent.

    `messages_from`: messages before this index are the parent's, unchanged (None: all new).
    `fields`: the other fields that changed (None: all of them).
    Made by `between`, the comparison runs only if a checkpointer asks for it.
    """

    __slots__ = ("_fields", "_messages_from", "_pair")

    def __init__(self, messages_from: int | None = None, fields: frozenset[str] | None = None) -> None:
        self._messages_from, self._fields = messages_from, fields
        self._pair: tuple[AgentState, AgentState] | None = None

    @classmethod
    def between(
        cls,
        old: AgentState,
        new: AgentState,
        touched: frozenset[str] | None = None,
        kept: int | None = None,
    ) -> StateChanges:
        """The changes from `old` to `new`, compared on first use (cheap when messages were appended).

        What the caller knows spares a comparison: `touched` names every field that may differ
        besides messages; `kept` says `new` holds `old`'s first `kept` messages unchanged.
        """
        changes = cls(kept, touched)
        if kept is None or touched is None:
            changes._pair = (old, new)
        return changes

    def _compare(self) -> None:
        if self._pair is not None:
            old, new = self._pair
            self._pair = None
            if self._messages_from is None:
                self._messages_from = appended_since(old.messages, new.messages)
            if self._fields is None:
                self._fields = frozenset(_changed(old.__dict__, new.__dict__) | _changed(
                    old.__pydantic_extra__ or {}, new.__pydantic_extra__ or {}))

    @property
    def messages_from(self) -> int | None:
        """Messages before this index are the parent's (None: all are new)."""
        self._compare()
        return self._messages_from

    @property
    def fields(self) -> frozenset[str] | None:
        """The non-message fields that changed (None: all of them)."""
        self._compare()
        return self._fields

    def __repr__(self) -> str:
        return f"StateChanges(messages_from={self.messages_from!r}, fields={self.fields!r})"


def _changed(old: dict[str, Any], new: dict[str, Any]) -> set[str]:
    """Keys whose values may differ. Identical objects are the same; another model object counts
    as changed without a (slow) comparison, since writing a field again is always safe."""
    changed = set()
    for key, value in new.items():
        if key == MESSAGES:
            continue
        before = old.get(key, _MISSING)
        if before is not value and (isinstance(value, BaseModel) or before != value):
            changed.add(key)
    changed.update(k for k in old if k not in new)
    return changed


def appended_since(old: list[Any], new: list[Any]) -> int | None:
    """`len(old)` when `new` is `old` plus items appended at the end, else None."""
    k = len(old)
    # List equality checks identity first, so an untouched prefix compares at C speed.
    return k if len(new) >= k and new[:k] == old else None


def encode_messages(state: AgentState, start: int = 0) -> list[str]:
    """JSON text of each message from index `start` on."""
    return [m.model_dump_json() for m in state.messages[start:]]


def encode_fields(state: AgentState, names: Iterable[str] | None = None) -> dict[str, str]:
    """JSON text of each named non-message field (all of them when `names` is None)."""
    if not _has_custom_serializers(type(state)):  # each value serializes as itself: the fast path
        return {name: to_json(value).decode() for name, value in _present(state, names)}
    return {name: json.dumps(value, separators=(",", ":")) for name, value in _dumped(state, names).items()}


def freeze_fields(state: AgentState, names: Iterable[str] | None = None) -> dict[str, Any]:
    """Each named non-message field in a form nothing can change later, made as cheaply as
    possible: an immutable value as itself, the engine's metadata as a dict of its (immutable)
    values, anything else as JSON bytes. `thaw` turns each back into JSON text."""
    if _has_custom_serializers(type(state)):
        return {name: text.encode() for name, text in encode_fields(state, names).items()}
    return {name: _frozen(value) for name, value in _present(state, names)}


def thaw(frozen: Any) -> str:
    """The JSON text of a value made by `freeze_fields`."""
    return frozen.decode() if type(frozen) is bytes else to_json(frozen).decode()


_IMMUTABLE = (int, float, str, bool, type(None))


def _frozen(value: Any) -> Any:
    kind = type(value)
    if kind in _IMMUTABLE or isinstance(value, Enum):
        return value
    if kind is ExecutionMeta and value.interrupt_data is None:  # its other fields are immutable
        return dict(value.__dict__)
    return to_json(value)


def _present(state: AgentState, names: Iterable[str] | None) -> Iterator[tuple[str, Any]]:
    values = state.__dict__
    extra = state.__pydantic_extra__ or {}
    if names is None:
        names = [*values, *extra]
    for name in names:
        if name != MESSAGES:
            value = values[name] if name in values else extra.get(name, _MISSING)
            if value is not _MISSING:
                yield name, value


def _dumped(state: AgentState, names: Iterable[str] | None) -> dict[str, Any]:
    """The named fields through the model's own serializers, as JSON-ready values."""
    present = dict(_present(state, names))
    return state.model_dump(mode="json", include=set(present)) if present else {}


_MISSING = object()


@lru_cache(maxsize=256)
def _has_custom_serializers(schema: type[AgentState]) -> bool:
    """True when the schema changes how a field is written (then the model must dump it)."""
    decorators = schema.__pydantic_decorators__
    if decorators.field_serializers or decorators.model_serializers:
        return True
    return any(
        field.metadata or (field.annotation is not None and hasattr(field.annotation, "__metadata__"))
        for field in schema.model_fields.values()
        if field.annotation not in (int, str, float, bool)
    )


def decode_state(
    schema: type[AgentState], fields: dict[str, str], messages: Iterable[str]
) -> AgentState:
    """Rebuild a state from JSON text through `schema` (validation only, no imports, no calls)."""
    parts = [f"{json.dumps(name)}:{text}" for name, text in fields.items()]
    parts.append(f'"{MESSAGES}":[{",".join(messages)}]')
    return schema.model_validate_json("{" + ",".join(parts) + "}")


class BaseCheckpointer(ABC):
    """Where threads are saved. Subclasses implement the four storage methods.

    Run control (which thread is running, stop requests) is kept in this process by default;
    a store shared between processes overrides `_acquire`, `_release`, `ais_running`,
    `arequest_stop` and `aconsume_stop`.
    """

    #: True when the store holds nothing bound to one event loop (no async clients or pools) and
    #: is safe to call from several threads: runs may then use a private loop in the caller's thread.
    any_loop: ClassVar[bool] = False

    def __init__(self) -> None:
        self._control = threading.Lock()
        self._running: set[str] = set()
        self._stops: set[str] = set()

    @abstractmethod
    async def aput(self, checkpoint: Checkpoint, *, changes: StateChanges | None = None) -> None:
        """Save `checkpoint`; `changes` (relative to its parent) lets a store write less."""

    @abstractmethod
    async def aget(
        self,
        thread_id: str,
        checkpoint_id: str | None = None,
        *,
        schema: type[AgentState] = AgentState,
    ) -> Checkpoint | None:
        """The newest checkpoint of a thread (or the one named), as a fresh copy; else None."""

    @abstractmethod
    async def alist(
        self, thread_id: str, *, schema: type[AgentState] = AgentState, limit: int | None = None
    ) -> list[Checkpoint]:
        """The thread's checkpoints, newest first, as fresh copies."""

    @abstractmethod
    async def athreads(self) -> list[str]:
        """The ids of every saved thread."""

    @asynccontextmanager
    async def lease(self, thread_id: str) -> AsyncIterator[None]:
        """Hold a thread for one run; a second run of it meanwhile gets `ThreadBusyError`."""
        await self._acquire(thread_id)
        try:
            yield
        finally:
            await self._release(thread_id)

    async def _acquire(self, thread_id: str) -> None:
        with self._control:
            if thread_id in self._running:
                raise ThreadBusyError(thread_id)
            self._running.add(thread_id)
            self._stops.discard(thread_id)

    async def _release(self, thread_id: str) -> None:
        with self._control:
            self._running.discard(thread_id)
            self._stops.discard(thread_id)

    async def ais_running(self, thread_id: str) -> bool:
        """True while a run holds the thread."""
        with self._control:
            return thread_id in self._running

    async def arequest_stop(self, thread_id: str) -> bool:
        """Ask the run holding `thread_id` to stop at its next node boundary; False if none."""
        with self._control:
            if thread_id not in self._running:
                return False
            self._stops.add(thread_id)
            return True

    async def aconsume_stop(self, thread_id: str) -> bool:
        """True once if a stop was requested for the running thread."""
        with self._control:
            if thread_id in self._stops:
                self._stops.discard(thread_id)
                return True
            return False
