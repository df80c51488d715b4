"""Inspecting and editing the threads of a compiled graph: `get_state`, `get_state_history`,
`update_state`, `fork`, `threads` (the part of `CompiledGraph` that runs nothing)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentflow_nb import _sync
from agentflow_nb.checkpointer.base import Checkpoint, StateChanges
from agentflow_nb.errors import UnknownThreadError
from agentflow_nb.graph.config import Config
from agentflow_nb.graph.config import thread_id as _thread_id
from agentflow_nb.graph.frames import Stack, pack, unpack
from agentflow_nb.graph.updates import apply_input, new_fields_of, own_thread
from agentflow_nb.publisher.events import EventType

if TYPE_CHECKING:
    from agentflow_nb.checkpointer.base import BaseCheckpointer
    from agentflow_nb.state import AgentState

__all__ = ["ThreadEditing"]


class ThreadEditing:
    """`CompiledGraph`'s methods that read and edit saved threads. Every method has a sync and
    an async (`a...`) twin."""

    if TYPE_CHECKING:  # provided by `CompiledGraph`
        checkpointer: BaseCheckpointer
        schema: type[AgentState]

        async def aload(self, thread_id: str, checkpoint_id: str | None = None) -> Checkpoint | None: ...

        async def emit(self, kind: EventType, state: AgentState, *, node: str | None = None,
                       content: str = "") -> None: ...

    async def aget_state(self, config: Config) -> Checkpoint | None:
        """The thread's newest checkpoint (or `config["checkpoint_id"]`), or None.

        When the thread is paused inside subgraphs, `checkpoint.state` is the root state and
        `checkpoint.frames` holds each subgraph's (`checkpoint.state_at("WRITER")`).
        """
        thread_id = _thread_id(config, "get_state")
        return await self.aload(thread_id, config.get("checkpoint_id"))

    def get_state(self, config: Config) -> Checkpoint | None:
        """Sync twin of `aget_state`."""
        return _sync.run(self.aget_state(config))

    async def aget_state_history(self, config: Config, limit: int | None = None) -> list[Checkpoint]:
        """Every checkpoint of the thread, newest first (steps inside subgraphs included: their
        `node` is the full path)."""
        thread_id = _thread_id(config, "get_state_history")
        found = await self.checkpointer.alist(thread_id, schema=self.schema, limit=limit)
        return [unpack(self, checkpoint) for checkpoint in found]

    def get_state_history(self, config: Config, limit: int | None = None) -> list[Checkpoint]:
        """Sync twin of `aget_state_history`."""
        return _sync.run(self.aget_state_history(config, limit))

    async def aupdate_state(
        self, config: Config, values: Mapping[str, Any], *, subgraph: str | None = None
    ) -> Checkpoint:
        """Edit a saved thread: validated first, then saved as one `"edit"` checkpoint.

        Keys must be fields of the schema or extra fields the thread already has; to add a new
        extra field on purpose, name it in the config: `{"thread_id": ..., "new_fields": ["score"]}`.
        `subgraph` edits the state of a subgraph the thread is paused inside instead of the
        root state: its path, as in `checkpoint.frames` (`"WRITER"`); validated by its schema.

        Raises:
            UnknownFieldError: a key is neither (a typo such as `approvd`), with a did-you-mean.
            pydantic.ValidationError: a value does not fit the schema (nothing is saved).
            UnknownThreadError: nothing is saved under the thread id.
            LookupError: the thread is not inside subgraph `subgraph`.
            ThreadBusyError: the thread is running.
        """
        thread_id = _thread_id(config, "update_state")
        async with self.checkpointer.lease(thread_id):
            latest = await self._require(thread_id)
            stack = Stack(own_thread(latest.state, thread_id), latest.frames)
            depth = stack.depth_of(subgraph)
            level = apply_input(stack.level(depth), values, new_fields=new_fields_of(config))
            edited = stack.replace(level, values.keys(), depth)
            state = pack(edited)
            checkpoint = Checkpoint.of(state, source="edit", parent_id=latest.checkpoint_id, thread_id=thread_id)
            await self.checkpointer.aput(checkpoint, changes=StateChanges.between(pack(stack), state))
        root = edited.root
        await self.emit(EventType.STATE_UPDATED, root, node=root.execution_meta.current_node,
                        content=f"edited {', '.join(map(str, values))}" + (f" in `{subgraph}`" if subgraph else ""))
        return checkpoint._replace(state=root, frames=edited.frames)

    def update_state(
        self, config: Config, values: Mapping[str, Any], *, subgraph: str | None = None
    ) -> Checkpoint:
        """Sync twin of `aupdate_state`."""
        return _sync.run(self.aupdate_state(config, values, subgraph=subgraph))

    async def afork(self, config: Config, new_thread_id: str | None = None) -> dict[str, Any]:
        """Copy a checkpoint (`config["checkpoint_id"]`, else the newest) into a new thread.

        Returns the new thread's config; invoking it continues from that checkpoint, inside
        subgraphs too.
        """
        thread_id = _thread_id(config, "fork")
        source = await self._require(thread_id, config.get("checkpoint_id"))
        new_id = new_thread_id or f"{thread_id}-fork-{uuid.uuid4().hex[:6]}"
        if new_id in await self.checkpointer.athreads():
            raise ValueError(f"thread `{new_id}` already exists; pass another `new_thread_id`")
        state = pack(Stack(source.state, source.frames).with_meta(thread_id=new_id))
        async with self.checkpointer.lease(new_id):
            checkpoint = Checkpoint.of(state, source="fork", parent_id=source.checkpoint_id, thread_id=new_id)
            await self.checkpointer.aput(checkpoint)
        return {"thread_id": new_id}

    def fork(self, config: Config, new_thread_id: str | None = None) -> dict[str, Any]:
        """Sync twin of `afork`."""
        return _sync.run(self.afork(config, new_thread_id))

    async def athreads(self) -> list[str]:
        """Ids of every saved thread."""
        return await self.checkpointer.athreads()

    def threads(self) -> list[str]:
        """Sync twin of `athreads`."""
        return _sync.run(self.athreads())

    async def _require(self, thread_id: str, checkpoint_id: str | None = None) -> Checkpoint:
        found = await self.aload(thread_id, checkpoint_id)
        if found is not None:
            return found
        if checkpoint_id is not None:
            raise LookupError(f"checkpoint `{checkpoint_id}` is not in thread `{thread_id}`")
        raise UnknownThreadError(thread_id)
