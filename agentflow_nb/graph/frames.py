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

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from agentflow_nb.checkpointer.base import (
    FRAME_KEY,
    Checkpoint,
    decode_state,
    has_custom_serializers,
    loaded_frames,
)
from agentflow_nb.graph.paths import local_name, split_path
from agentflow_nb.graph.updates import with_meta
from agentflow_nb.state import AgentState, ExecutionMeta

if TYPE_CHECKING:
    from agentflow_nb.graph.compiled import CompiledGraph

__all__ = ["Frame", "Stack", "frame_keys", "localize", "pack", "unpack"]

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


class Stack(NamedTuple):
    """The root state and the frames the run is inside, outermost first. Immutable."""

    root: AgentState
    frames: tuple[Frame, ...] = ()

    @property
    def current(self) -> AgentState:
        """The state of the innermost graph: the one whose nodes run next."""
        return self.frames[-1].state if self.frames else self.root

    @property
    def prefix(self) -> str:
        """The innermost subgraph's path (`""` at the root)."""
        return self.frames[-1].path if self.frames else ""

    def graph(self, root: CompiledGraph) -> CompiledGraph:
        """The innermost graph, given the root graph."""
        return self.frames[-1].graph if self.frames else root

    def with_meta(self, **changes: Any) -> Stack:
        """The stack with the thread's metadata (the root's) changed."""
        return Stack(with_meta(self.root, **changes), self.frames)

    def push(self, frame: Frame) -> Stack:
        """Enter a subgraph."""
        return Stack(self.root, (*self.frames, frame))

    def pop(self) -> tuple[Stack, Frame]:
        """Leave the innermost subgraph: the stack without it, and its frame."""
        return Stack(self.root, self.frames[:-1]), self.frames[-1]

    def depth_of(self, path: str | None) -> int:
        """How deep the frame at `path` is (0 for None or `""`: the root).

        Raises:
            KeyError: the stack has no frame at `path`; the message lists the ones it has.
        """
        if not path:
            return 0
        for depth, frame in enumerate(self.frames, 1):
            if frame.path == path:
                return depth
        inside = ", ".join(f"`{f.path}`" for f in self.frames)
        where = f"it is paused inside {inside}" if inside else "it is not inside any subgraph"
        raise KeyError(f"the thread is not inside subgraph `{path}`; {where}")

    def level(self, depth: int) -> AgentState:
        """The state at `depth` (0: the root)."""
        return self.frames[depth - 1].state if depth else self.root

    def replace(self, state: AgentState, touched: Iterable[str] | None = (), depth: int | None = None) -> Stack:
        """The stack with the state at `depth` (default: the innermost) replaced.

        `touched` names the fields that may have changed (None: any), remembered so that they pass
        out when the subgraph ends. A changed conversation is handed to every frame sharing it.
        """
        frames = self.frames
        if not frames:
            return Stack(state)
        at = len(frames) if depth is None else depth
        states = [self.root, *(frame.state for frame in frames)]
        before = states[at]
        states[at] = state
        if state.messages is not before.messages:
            _share_messages(states, frames, at)
        new = []
        for i, frame in enumerate(frames, 1):
            if i == at:
                frame = frame._replace(state=states[i], changed=_union(frame.changed, touched))
            elif states[i] is not frame.state:
                frame = frame._replace(state=states[i])
            new.append(frame)
        return Stack(states[0], tuple(new))


def _share_messages(states: list[AgentState], frames: tuple[Frame, ...], at: int) -> None:
    """Give the new messages of `states[at]` to every level that shares that conversation."""
    owner = at
    while owner > 0 and frames[owner - 1].shares_messages:
        owner -= 1
    messages = states[at].messages
    for i in range(owner, len(states)):
        if i > owner and not frames[i - 1].shares_messages:
            break
        if i != at:
            states[i] = states[i].model_copy(update={"messages": messages})


def _union(changed: frozenset[str] | None, touched: Iterable[str] | None) -> frozenset[str] | None:
    if changed is None or touched is None:
        return None
    return changed | frozenset(name for name in touched if name not in _NOT_COPIED)


def localize(meta: ExecutionMeta, path: str) -> ExecutionMeta:
    """The thread's metadata as the subgraph at `path` sees it: positions named inside it."""
    return meta.model_copy(update={
        "current_node": local_name(meta.current_node, path),
        "next_node": local_name(meta.next_node, path),
        "interrupted_node": local_name(meta.interrupted_node, path),
    })


# -- saving and loading -------------------------------------------------------------------


def frame_keys(depth: int, names: Iterable[str]) -> set[str]:
    """The packed keys of a frame's fields."""
    return {f"{FRAME_KEY}{depth}{FRAME_KEY}{name}" for name in names if name not in _NOT_COPIED}


def pack(stack: Stack) -> AgentState:
    """The one state a store saves for `stack` (the root state itself when there is no frame)."""
    if not stack.frames:
        return stack.root
    root = stack.root
    log = root.messages
    layout = []
    update: dict[str, Any] = {}
    for depth, frame in enumerate(stack.frames, 1):
        own = None
        if not frame.shares_messages:
            own = len(frame.state.messages)
            log = log + frame.state.messages  # a copy, only for a subgraph with its own conversation
        changed = None if frame.changed is None else sorted(frame.changed)
        layout.append({"path": frame.path, "own": own, "changed": changed})
        key = f"{FRAME_KEY}{depth}{FRAME_KEY}"
        for name, value in _values(frame.state):
            update[key + name] = value
    update[FRAME_KEY] = {"n": len(root.messages), "frames": layout}
    update["messages"] = log
    return root.model_copy(update=update)


def _values(state: AgentState) -> Iterator[tuple[str, Any]]:
    """A frame's fields to save. With custom serializers only the frame's own model knows how to
    write them, so they are dumped here, as JSON data."""
    if has_custom_serializers(type(state)):
        yield from state.model_dump(mode="json", exclude=set(_NOT_COPIED)).items()
        return
    for name, value in state.__dict__.items():
        if name not in _NOT_COPIED:
            yield name, value
    if state.__pydantic_extra__:
        yield from state.__pydantic_extra__.items()


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
        update: dict[str, Any] = {"execution_meta": localize(meta, item.path)}
        if item.messages is None:
            update["messages"] = parent.messages
        state = state.model_copy(update=update)
        changed = None if item.changed is None else frozenset(item.changed)
        frames.append(Frame(item.path, state, sub, item.messages is None, changed))
        parent = state
    return checkpoint._replace(state=root, frames=tuple(frames))
