"""The call stack of a run: the root state, and one `Frame` per subgraph the run is inside.

A run inside `WRITER/CRITIC` holds the root state, `WRITER`'s state and `CRITIC`'s state. The
root state's `execution_meta` is the thread's: its status, step and position (`current_node`,
`next_node` as full paths). A frame's own fields pass in when the subgraph starts and out when it
ends (`agentflow_nb.graph.subgraph`); its `messages`, unless it keeps a conversation of its own,
are its parent's list, kept the same list as the conversation grows.

Saved, the whole stack is one state (`pack`), so every store keeps it through its ordinary
interface and deltas: the root's fields as they are; each frame's fields under `/<depth>/<name>`;
a small layout under `/`; and one message log — the root's conversation, then the conversation of
each frame that has its own. A step inside a subgraph therefore appends messages at the end of the
log and changes a few fields, as a step of a flat graph does. `unpack` rebuilds the frames with
the subgraphs' schemas.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

from agentflow_nb.checkpointer.base import (
    FRAME_KEY,
    Checkpoint,
    decode_state,
    has_custom_serializers,
    loaded_frames,
)
from agentflow_nb.checkpointer.packed import Layout
from agentflow_nb.graph.paths import split_path
from agentflow_nb.graph.updates import copy_with, with_meta
from agentflow_nb.state import AgentState, ExecutionMeta, Message

if TYPE_CHECKING:
    from agentflow_nb.graph.compiled import CompiledGraph

__all__ = ["Frame", "Stack", "pack", "pack_step", "packed_fields", "unpack"]

_NOT_COPIED = ("messages", "execution_meta")


class Frame(NamedTuple):
    """A subgraph the thread is inside, like a frame of a call stack.

    Attributes:
        path: the subgraph node's path, e.g. `"WRITER"` or `"WRITER/CRITIC"`.
        state: the subgraph's state, of the subgraph's own schema.
        graph: the subgraph (a `CompiledGraph`).
        shares_messages: its `messages` are its parent's conversation (the default); else its own.
        changed: the fields its nodes and edits have changed so far (None: any of them); these
            are what is written back to the parent when the subgraph ends.
    """

    path: str
    state: AgentState
    graph: CompiledGraph
    shares_messages: bool = True
    changed: frozenset[str] | None = frozenset()

    @property
    def parts(self) -> tuple[str, ...]:
        """The path as its parts: `("WRITER", "CRITIC")`."""
        return split_path(self.path)


class Stack:
    """The root state and the frames the run is inside, outermost first. Never changed once
    made: every method returns a new stack.

    Attributes:
        root: the root graph's state; its `execution_meta` is the thread's.
        frames: one `Frame` per subgraph the run is inside, outermost first.
        current: the state of the innermost graph, the one whose nodes run next. Its
            `execution_meta` is the thread's (positions are full paths) at every depth.
        prefix: the innermost subgraph's path (`""` at the root).
        shape: the frames' paths.
    """

    __slots__ = ("root", "frames", "current", "prefix", "shape")

    def __init__(self, root: AgentState, frames: tuple[Frame, ...] = (), shape: tuple[str, ...] | None = None) -> None:
        self.root = root
        self.frames = frames
        if frames:
            self.current = frames[-1].state
            self.prefix = frames[-1].path
            self.shape = shape if shape is not None else tuple([frame.path for frame in frames])
        else:
            self.current, self.prefix, self.shape = root, "", ()

    def __repr__(self) -> str:
        return f"Stack(root={self.root!r}, frames={self.frames!r})"

    def graph(self, root: CompiledGraph) -> CompiledGraph:
        """The innermost graph, given the root graph."""
        return self.frames[-1].graph if self.frames else root

    def with_meta(self, **changes: Any) -> Stack:
        """The stack with the thread's metadata (the root's) changed."""
        if not self.frames:
            return Stack(with_meta(self.root, **changes))
        return self.replace(self.current, (), meta=changes)

    def advance(self, state: AgentState, touched: Iterable[str] | None, meta: dict[str, Any]) -> Stack:
        """`replace(state, touched)` and `with_meta(**meta)` at once: where a step leaves the thread."""
        frames = self.frames
        if not frames:  # a flat graph's step: a new state from the node's result takes it in place
            new_meta = copy_with(self.root.execution_meta, meta)
            if state is self.root:
                return Stack(copy_with(state, {"execution_meta": new_meta}))
            state.__dict__["execution_meta"] = new_meta
            return Stack(state)
        last = frames[-1]
        talked = state.messages is not last.state.messages
        if talked and len(frames) > 1:
            return self.replace(state, touched, meta=meta)
        # a step in the innermost subgraph that left the conversation alone, or one level down
        update: dict[str, Any] = {"execution_meta": copy_with(self.root.execution_meta, meta)}
        if talked and last.shares_messages:
            update["messages"] = state.messages
        root = copy_with(self.root, update)
        state = _with_meta_of(state, root.execution_meta, fresh=state is not last.state)
        frame = Frame(last.path, state, last.graph, last.shares_messages, _union(last.changed, touched))
        return Stack(root, (*frames[:-1], frame), self.shape)

    def push(self, frame: Frame) -> Stack:
        """Enter a subgraph."""
        return Stack(self.root, (*self.frames, frame))

    def pop(self) -> tuple[Stack, Frame]:
        """Leave the innermost subgraph: the stack without it, and its frame."""
        return Stack(self.root, self.frames[:-1]), self.frames[-1]

    def depth_of(self, path: str | None) -> int:
        """How deep the frame at `path` is (0 for None or `""`: the root).

        Raises:
            LookupError: the stack has no frame at `path`; the message lists the ones it has.
        """
        if not path:
            return 0
        for depth, frame in enumerate(self.frames, 1):
            if frame.path == path:
                return depth
        inside = ", ".join(f"`{f.path}`" for f in self.frames)
        where = f"it is paused inside {inside}" if inside else "it is not inside any subgraph"
        raise LookupError(f"the thread is not inside subgraph `{path}`; {where}")

    def level(self, depth: int) -> AgentState:
        """The state at `depth` (0: the root)."""
        return self.frames[depth - 1].state if depth else self.root

    def replace(
        self, state: AgentState, touched: Iterable[str] | None = (), depth: int | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Stack:
        """The stack with the state at `depth` (default: the innermost) replaced, and the
        thread's metadata changed by `meta`.

        `touched` names the fields that may have changed (None: any), remembered so that they pass
        out when the subgraph ends. A changed conversation is handed to every frame sharing it.
        """
        frames = self.frames
        if not frames:
            return Stack(with_meta(state, **meta) if meta else state)
        at = len(frames) if depth is None else depth
        before = self.level(at)
        states = {at: state}  # the levels that change (0: the root)
        root_update: dict[str, Any] = {}
        if state.messages is not before.messages:
            for i in _sharing(frames, at):
                if i == 0:
                    root_update["messages"] = state.messages
                elif i != at:
                    states[i] = frames[i - 1].state.model_copy(update={"messages": state.messages})
        if meta:
            root_update["execution_meta"] = self.root.execution_meta.model_copy(update=meta)
        root = states.get(0, self.root)
        if root_update:
            root = root.model_copy(update=root_update)
        if meta:  # the innermost state, whose nodes run next, carries the thread's metadata
            last = len(frames)
            inner = states.get(last, frames[-1].state)
            states[last] = _with_meta_of(inner, root.execution_meta, fresh=inner is state is not before)
        new = list(frames)
        for i, changed in states.items():
            if i:
                frame = frames[i - 1]
                touched_here = _union(frame.changed, touched) if i == at else frame.changed
                new[i - 1] = Frame(frame.path, changed, frame.graph, frame.shares_messages, touched_here)
        return Stack(root, tuple(new))


def _sharing(frames: tuple[Frame, ...], at: int) -> range:
    """The levels (0: the root) that share the conversation of level `at`."""
    owner = at
    while owner > 0 and frames[owner - 1].shares_messages:
        owner -= 1
    end = owner + 1
    while end <= len(frames) and frames[end - 1].shares_messages:
        end += 1
    return range(owner, end)


def _with_meta_of(state: AgentState, meta: ExecutionMeta, *, fresh: bool) -> AgentState:
    """`state` with the thread's metadata `meta` (shared: metadata is only ever replaced, never
    changed in place). A `fresh` state (made for this step, held by nobody else) gets it in place."""
    if not fresh:
        return copy_with(state, {"execution_meta": meta})
    state.__dict__["execution_meta"] = meta
    return state


def _union(changed: frozenset[str] | None, touched: Iterable[str] | None) -> frozenset[str] | None:
    if changed is None or touched is None:
        return None
    new = frozenset(touched).difference(_NOT_COPIED)
    return changed if new <= changed else changed | new


# -- saving and loading -------------------------------------------------------------------


@lru_cache(maxsize=1024)
def packed_fields(depth: int, names: frozenset[str]) -> frozenset[str]:
    """What a step inside the frame at `depth` that touched fields `names` changes in the packed
    state: those fields' keys, the layout and the thread's metadata."""
    key = f"{FRAME_KEY}{depth}{FRAME_KEY}"
    return frozenset({"execution_meta", FRAME_KEY, *(key + name for name in names if name not in _NOT_COPIED)})


def pack(stack: Stack) -> AgentState:
    """The one state a store saves for `stack` (the root state itself when there is no frame)."""
    if not stack.frames:
        return stack.root
    update: dict[str, Any] = {}
    for depth, frame in enumerate(stack.frames, 1):
        update.update(_values(frame.state, f"{FRAME_KEY}{depth}{FRAME_KEY}"))
    log, update[FRAME_KEY] = _log(stack)
    update["messages"] = log
    return stack.root.model_copy(update=update)


def pack_step(saved: AgentState, stack: Stack, touched: frozenset[str]) -> AgentState:
    """`pack(stack)` made from `saved`, the packed state before a step inside the innermost
    subgraph that changed only the `touched` fields of that subgraph (and the thread's metadata
    and messages): the other frames' fields are not gathered again."""
    depth = len(stack.frames)
    state = stack.current
    key = f"{FRAME_KEY}{depth}{FRAME_KEY}"
    if has_custom_serializers(type(state)):
        values = _values(state, key)
        update = {name: values[name] for name in (key + n for n in touched) if name in values}
    else:
        extra = state.__pydantic_extra__ or {}
        update = {key + name: state.__dict__[name] if name in state.__dict__ else extra[name]
                  for name in touched if name not in _NOT_COPIED and (name in state.__dict__ or name in extra)}
    log, update[FRAME_KEY] = _log(stack)
    update["messages"] = log
    update["execution_meta"] = stack.root.execution_meta
    # a packed state is only read by stores: no copy of its private values or validation needed
    return copy_with(saved, update)


def _log(stack: Stack) -> tuple[list[Message], Layout]:
    """The message log (the root's conversation, then each frame's own) and the layout."""
    root = stack.root
    log = root.messages
    layout = []
    for frame in stack.frames:
        own = None
        if not frame.shares_messages:
            own = len(frame.state.messages)
            log = log + frame.state.messages  # a copy, only for a subgraph with its own conversation
        layout.append((frame.path, own, _sorted(frame.changed)))
    return log, _layout(len(root.messages), tuple(layout))


@lru_cache(maxsize=256)
def _layout(n: int, frames: tuple[tuple[str, int | None, tuple[str, ...] | None], ...]) -> Layout:
    """One layout object per content (shared: nothing changes a `Layout`)."""
    return Layout(n, frames)


@lru_cache(maxsize=1024)
def _sorted(changed: frozenset[str] | None) -> tuple[str, ...] | None:
    return None if changed is None else tuple(sorted(changed))


def _values(state: AgentState, key: str) -> dict[str, Any]:
    """A frame's fields to save, under `key`. With custom serializers only the frame's own model
    knows how to write them, so they are dumped here, as JSON data."""
    if has_custom_serializers(type(state)):
        return {key + name: value for name, value in state.model_dump(mode="json", exclude=set(_NOT_COPIED)).items()}
    values = {key + name: value for name, value in state.__dict__.items() if name not in _NOT_COPIED}
    if state.__pydantic_extra__:
        values.update((key + name, value) for name, value in state.__pydantic_extra__.items())
    return values


def unpack(graph: CompiledGraph, checkpoint: Checkpoint) -> Checkpoint:
    """`checkpoint` as loaded by a store, with its frames decoded (`checkpoint.frames`).

    Raises:
        GraphError: the thread is inside a subgraph that `graph` does not have.
        pydantic.ValidationError: a frame's saved fields do not fit its subgraph's schema.
    """
    raw = loaded_frames(checkpoint.state)
    if not raw:
        return checkpoint
    loaded = checkpoint.state.execution_meta
    meta = ExecutionMeta.model_construct(loaded.model_fields_set, **loaded.__dict__)
    root = checkpoint.state.model_copy(update={"execution_meta": meta})
    frames: list[Frame] = []
    parent = root
    for item in raw:
        sub = graph.graph_at(item.path)
        state = decode_state(sub.schema, item.fields, item.messages or [])
        update: dict[str, Any] = {"execution_meta": meta.model_copy()}
        if item.messages is None:
            update["messages"] = parent.messages
        state = state.model_copy(update=update)
        changed = None if item.changed is None else frozenset(item.changed)
        frames.append(Frame(item.path, state, sub, item.messages is None, changed))
        parent = state
    return checkpoint._replace(state=root, frames=tuple(frames))
