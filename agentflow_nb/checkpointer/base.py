"""The checkpointer interface and the `Checkpoint` record.

A checkpointer saves one `Checkpoint` per step. The engine tells it what the step changed
(`StateChanges`) so a store can write only that: new messages and changed fields. Every store
encodes and decodes through `codec` (re-exported here), so all of them keep the same rules.
"""

from __future__ import annotations

import random
import threading
import time
from abc import ABC, abstractmethod
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar, Literal, NamedTuple

from pydantic import BaseModel

from agentflow_nb.checkpointer.codec import (  # noqa: F401  # re-exported, see __all__
    decode_parts,
    decode_state,
    encode_fields,
    encode_messages,
    freeze_fields,
    has_custom_serializers,
    message_bytes,
    thaw,
)
from agentflow_nb.checkpointer.packed import FRAME_KEY, RawFrame, loaded_frames
from agentflow_nb.errors import ThreadBusyError
from agentflow_nb.state import AgentState, ExecutionStatus

# The codec's and the packed format's names are importable from here too (stores and the engine
# written against this module keep working).
__all__ = [
    "FRAME_KEY",
    "BaseCheckpointer",
    "Checkpoint",
    "CheckpointSource",
    "RawFrame",
    "StateChanges",
    "appended_since",
    "decode_state",
    "encode_fields",
    "encode_messages",
    "freeze_fields",
    "has_custom_serializers",
    "loaded_frames",
    "new_checkpoint_id",
]

CheckpointSource = Literal["run", "edit", "fork"]
MESSAGES = "messages"


def new_checkpoint_id(now: int | None = None) -> str:
    """A fresh, time-ordered checkpoint id.

    The random part comes from `random`'s generator, seeded from the OS and reseeded in a
    forked child, rather than from a system call at every step.
    """
    return _ID % (now or time.time_ns(), _random_bits(32))


_ID = "%020d-%08x"  # nanoseconds, random bits (`%`: cheaper than an f-string's format specs)
_random_bits = random.getrandbits  # the module's own generator, which `random` reseeds in a forked child


_tuple_new = tuple.__new__
_new_object = object.__new__


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
    #: The subgraphs the thread is paused inside, outermost first (`agentflow_nb.graph.Frame`:
    #: `.path`, `.state`). Filled in by the `CompiledGraph` that loads the checkpoint; a store
    #: saves and returns `()`, the frames travelling inside `state` in packed form.
    frames: tuple[Any, ...] = ()

    def state_at(self, path: str = "") -> AgentState:
        """The state of the subgraph at `path` (`"WRITER"`), or the root state for `""`.

        Raises:
            LookupError: the thread is not inside a subgraph at `path`; the message lists those it is in.
        """
        if not path:
            return self.state
        for frame in self.frames:
            if frame.path == path:
                return frame.state
        inside = ", ".join(f"`{f.path}`" for f in self.frames) or "no subgraph"
        raise LookupError(f"checkpoint `{self.checkpoint_id}` is not inside subgraph `{path}`; it is inside {inside}")

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
        meta = state.execution_meta.__dict__
        now = time.time_ns()
        thread = thread_id if thread_id is not None else meta["thread_id"] or ""
        # made at every step: the tuple directly, without the named tuple's `__new__` in Python,
        # and the id as `new_checkpoint_id` makes it, without the call
        checkpoint_id = _ID % (now, _random_bits(32))
        return _tuple_new(cls, (checkpoint_id, thread, meta["step"], meta["current_node"], meta["status"],
                                source, parent_id, state, now / 1e9, ()))


class StateChanges:
    """What a checkpoint changed relative to its parent.

    `messages_from`: messages before this index are the parent's, unchanged (None: all new).
    `fields`: the other fields that changed (None: all of them).
    Made by `between`, the comparison runs only if a checkpointer asks for it.
    """

    __slots__ = ("_fields", "_lists", "_messages_from", "_pair")

    def __init__(self, messages_from: int | None = None, fields: frozenset[str] | None = None) -> None:
        self._messages_from, self._fields = messages_from, fields
        self._pair: tuple[AgentState, AgentState] | None = None
        self._lists: tuple[list[Any], list[Any]] | None = None

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
        changes = _new_object(cls)  # made at every step: the slots set here, without `__init__`'s call
        changes._messages_from, changes._fields = kept, touched
        changes._lists = (old.messages, new.messages)
        changes._pair = (old, new) if kept is None or touched is None else None
        return changes

    def messages_from_for(self, old: list[Any], new: list[Any]) -> int | None:
        """How many of `old`'s first messages `new` keeps (see `messages_from`), taken from this
        comparison when it is of these very lists (a caller that needs it again does not walk a
        long list twice)."""
        lists = self._lists
        if lists is not None and lists[0] is old and lists[1] is new:
            return self.messages_from
        return _kept(old, new)

    def _compare(self) -> None:
        if self._pair is not None:
            old, new = self._pair
            self._pair = None
            if self._messages_from is None:
                self._messages_from = _kept(old.messages, new.messages)
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


_MISSING = object()


def _kept(old: list[Any], new: list[Any]) -> int | None:
    """How many of `old`'s first items `new` starts with, when `new` is `old` with items
    appended, or `old` cut short (a subgraph's own conversation dropped); else None."""
    if len(new) < len(old):
        return len(new) if old[: len(new)] == new else None
    return appended_since(old, new)


def appended_since(old: list[Any], new: list[Any]) -> int | None:
    """`len(old)` when `new` is `old` plus items appended at the end, else None."""
    k = len(old)
    # List equality checks identity first, so an untouched prefix compares at C speed.
    return k if len(new) >= k and new[:k] == old else None


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

    async def aput_last(self, checkpoint: Checkpoint, *, changes: StateChanges | None = None) -> None:
        """Save the last checkpoint of a run, which releases the thread right after: a store
        that holds threads across processes may end the lease in the same write."""
        await self.aput(checkpoint, changes=changes)

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

    async def ahead(self, thread_id: str) -> str | None:
        """The id of the thread's newest checkpoint when the store knows it at little cost and
        for sure, else None. A run holding the thread asks, to reuse the state it left at its
        last pause instead of loading it again; the answer must change as soon as anything,
        in any process, writes the thread. None (the default) is always correct: the run loads."""
        return None

    def lease(self, thread_id: str) -> AbstractAsyncContextManager[None]:
        """Hold a thread for one run (`async with store.lease(thread_id): ...`); a second run of
        it meanwhile gets `ThreadBusyError`."""
        return _Lease(self, thread_id)

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

    def stop_may_be_pending(self) -> bool:
        """False when `aconsume_stop` would surely answer False, known with no await: this
        process keeps the run control (the default) and no stop is asked. The engine asks at
        every step, and awaits `aconsume_stop` only on True."""
        return bool(self._stops) or type(self).aconsume_stop is not BaseCheckpointer.aconsume_stop

    async def aconsume_stop(self, thread_id: str) -> bool:
        """True once if a stop was requested for the running thread."""
        if not self._stops:  # asked at every step: the usual answer without taking the lock
            return False
        with self._control:
            if thread_id in self._stops:
                self._stops.discard(thread_id)
                return True
            return False


class _Lease(AbstractAsyncContextManager[None]):
    """`BaseCheckpointer.lease`: written as a class, not a generator (one per run: a generator
    costs more to start and is tracked by the event loop)."""

    __slots__ = ("store", "thread_id")

    def __init__(self, store: BaseCheckpointer, thread_id: str) -> None:
        self.store, self.thread_id = store, thread_id

    async def __aenter__(self) -> None:
        await self.store._acquire(self.thread_id)

    async def __aexit__(self, *exc_info: object) -> None:
        await self.store._release(self.thread_id)
