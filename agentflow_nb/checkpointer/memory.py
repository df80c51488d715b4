"""`InMemoryCheckpointer`: every step of every thread, kept in this process, copied in and out."""

from __future__ import annotations

import threading
from typing import Any, NamedTuple

from agentflow_nb.checkpointer.base import (
    BaseCheckpointer,
    Checkpoint,
    StateChanges,
    decode_state,
    encode_messages,
    freeze_fields,
    thaw,
)
from agentflow_nb.state import AgentState

__all__ = ["InMemoryCheckpointer"]


class _Record(NamedTuple):
    head: tuple[Any, ...]  # the checkpoint's fields, in order, all but its state
    fields: dict[str, Any]  # per non-message field, as `freeze_fields` keeps it
    log: list[str]  # JSON text per message, shared along a branch (only ever appended to)
    size: int  # this checkpoint's messages are log[:size]


class InMemoryCheckpointer(BaseCheckpointer):
    """Keeps each thread's full history in memory, copying in and out.

    Nothing aliases a live object: fields are kept as immutable values or JSON, messages as JSON
    text, and every load rebuilds the state through its schema.
    A step that appends messages stores only the new ones, so the cost of a step does not grow
    with the length of the conversation.

    Example: what is saved is a copy; changing the live state later changes nothing saved.
        >>> import asyncio
        >>> from agentflow_nb.checkpointer import Checkpoint, InMemoryCheckpointer
        >>> from agentflow_nb.state import AgentState
        >>> saver, state = InMemoryCheckpointer(), AgentState(notes=["saved"])
        >>> asyncio.run(saver.aput(Checkpoint.of(state, thread_id="t")))
        >>> state.notes.append("changed later")
        >>> asyncio.run(saver.aget("t")).state.notes
        ['saved']
    """

    any_loop = True

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._threads: dict[str, list[_Record]] = {}
        self._by_id: dict[str, _Record] = {}

    async def aput(self, checkpoint: Checkpoint, *, changes: StateChanges | None = None) -> None:
        """Save `checkpoint`, storing only what `changes` says is new."""
        state = checkpoint.state
        with self._lock:
            parent = self._by_id.get(checkpoint.parent_id or "")
            if parent is None or changes is None:
                changes = StateChanges()
            fields = self._fields(parent, state, changes)
            log, count = self._messages(parent, state, changes)
            record = _Record(checkpoint[:7] + checkpoint[8:], fields, log, count)  # all but the state
            self._threads.setdefault(checkpoint.thread_id, []).append(record)
            self._by_id[checkpoint.checkpoint_id] = record

    @staticmethod
    def _fields(parent: _Record | None, state: AgentState, changes: StateChanges) -> dict[str, Any]:
        if parent is None or changes.fields is None:
            return freeze_fields(state)
        fresh = freeze_fields(state, changes.fields)
        fields = parent.fields | fresh
        if len(fresh) < len(changes.fields):  # some changed field is gone (an extra field deleted)
            for name in changes.fields - fresh.keys():
                fields.pop(name, None)
        return fields

    @staticmethod
    def _messages(
        parent: _Record | None, state: AgentState, changes: StateChanges
    ) -> tuple[list[str], int]:
        kept = changes.messages_from if parent is not None else None
        if parent is None or kept is None or kept > parent.size:
            log = encode_messages(state)
            return log, len(log)
        if len(state.messages) == kept:  # no new messages: share the parent's (or a prefix of them)
            return parent.log, kept
        log = parent.log
        if len(log) != kept:  # another branch appended here, or this one dropped some: our own copy
            log = log[:kept]
        log.extend(encode_messages(state, kept))
        return log, len(log)

    @staticmethod
    def _load(record: _Record, schema: type[AgentState]) -> Checkpoint:
        fields = {name: thaw(value) for name, value in record.fields.items()}
        state = decode_state(schema, fields, record.log[: record.size])
        head = record.head
        return Checkpoint._make((*head[:7], state, *head[7:]))

    async def aget(
        self,
        thread_id: str,
        checkpoint_id: str | None = None,
        *,
        schema: type[AgentState] = AgentState,
    ) -> Checkpoint | None:
        """The newest checkpoint of `thread_id`, or the one named; None if there is none."""
        with self._lock:
            records = self._threads.get(thread_id)
            if not records:
                return None
            found = records[-1] if checkpoint_id is None else self._by_id.get(checkpoint_id)
            if found is None or found.head[1] != thread_id:
                return None
            record = found
        return self._load(record, schema)

    async def ahead(self, thread_id: str) -> str | None:
        """The newest checkpoint's id: this process holds every thread, so it is always known."""
        with self._lock:
            records = self._threads.get(thread_id)
            return records[-1].head[0] if records else None

    async def alist(
        self, thread_id: str, *, schema: type[AgentState] = AgentState, limit: int | None = None
    ) -> list[Checkpoint]:
        """The thread's checkpoints, newest first."""
        with self._lock:
            records = list(reversed(self._threads.get(thread_id, [])))
        return [self._load(r, schema) for r in records[:limit]]

    async def athreads(self) -> list[str]:
        """Every saved thread id, oldest first."""
        with self._lock:
            return list(self._threads)
