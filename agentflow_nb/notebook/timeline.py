"""Reading a thread's history: what each checkpoint changed, the path to it, where it stands.

Pure functions over `Checkpoint`s (the engine's public records), used by the session, the
history list, the inspector's marks and the static fallback alike. A checkpoint inside
subgraphs has a state per level, like a call stack: the top level (`""`) and each frame
(`"WRITER"`); what a step changed is read per level.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from agentflow_nb.checkpointer.base import Checkpoint
from agentflow_nb.graph.command import END, START
from agentflow_nb.render.shape import Phase, Position
from agentflow_nb.state import AgentState, ExecutionStatus

__all__ = [
    "Entry", "StateDiff", "diff_states", "entries", "last_node_diff", "level_diff", "levels", "path_edges",
    "path_to", "position_of", "state_at",
]

S = ExecutionStatus
_ENGINE = ("messages", "execution_meta")


@dataclass(frozen=True)
class StateDiff:
    """What one state changed against another: fields set, messages added (or replaced)."""

    fields: tuple[str, ...] = ()
    added: int = 0
    replaced: bool = False

    @property
    def changed(self) -> frozenset[str]:
        """The names to mark as changed (`messages` included when they changed)."""
        names = set(self.fields)
        if self.added or self.replaced:
            names.add("messages")
        return frozenset(names)

    def summary(self) -> str:
        """`set amount, note · +2 messages`, or "" when nothing changed."""
        parts = []
        if self.fields:
            parts.append("set " + ", ".join(self.fields))
        if self.replaced:
            parts.append("messages rewritten")
        elif self.added:
            parts.append(f"+{self.added} message{'s' if self.added > 1 else ''}")
        return " · ".join(parts)


def _values(state: AgentState) -> dict[str, Any]:
    values = {k: v for k, v in state.__dict__.items() if k not in _ENGINE}
    values.update(state.model_extra or {})
    return values


def _defaults(state: AgentState) -> dict[str, Any]:
    """The schema's default of each field that has one."""
    out = {}
    for name, info in type(state).model_fields.items():
        if name not in _ENGINE and not info.is_required():
            out[name] = info.get_default(call_default_factory=True)
    return out


def diff_states(old: AgentState | None, new: AgentState) -> StateDiff:
    """What `new` changed against `old` (None: against the schema's defaults, for a start)."""
    if old is None:
        before = _defaults(new)
        return StateDiff(tuple(k for k, v in _values(new).items() if k not in before or before[k] != v),
                         len(new.messages))
    before = _values(old)
    return _diff(before, old.messages, new, tuple(k for k in before if k not in _values(new)))


def _diff(before: dict[str, Any], kept: list[Any], new: AgentState, gone: tuple[str, ...] = ()) -> StateDiff:
    fields = tuple(k for k, v in _values(new).items() if k not in before or before[k] != v) + gone
    now = new.messages
    # Messages are append-only in practice: comparing the last shared one is enough.
    appended = len(now) >= len(kept) and (not kept or now[len(kept) - 1].message_id == kept[-1].message_id)
    return StateDiff(fields, len(now) - len(kept) if appended else 0, not appended)


def state_at(checkpoint: Checkpoint, path: str = "") -> AgentState | None:
    """The state at level `path` of a checkpoint: the top level for "", else the subgraph frame
    at that path (None when the checkpoint is not inside it)."""
    if not path:
        return checkpoint.state
    for frame in checkpoint.frames:
        if frame.path == path:
            return frame.state
    return None


def levels(checkpoint: Checkpoint) -> tuple[str, ...]:
    """The levels of a checkpoint, outermost first: "" and each subgraph it is inside."""
    return ("", *(frame.path for frame in checkpoint.frames))


def level_diff(parent: Checkpoint | None, child: Checkpoint, path: str = "") -> StateDiff:
    """What the step from `parent` to `child` changed at level `path`. A subgraph entered in
    that step is compared with what passed into it: the fields it shares with the level above,
    and its defaults."""
    new = state_at(child, path)
    if new is None:
        return StateDiff()
    if parent is None:
        return diff_states(None, new)
    old = state_at(parent, path)
    if old is not None:
        return diff_states(old, new)
    above = path
    while old is None and above:  # entered in this step: the nearest level the parent has
        above = above.rpartition("/")[0]
        old = state_at(parent, above)
    assert old is not None  # the top level is always there
    given = _values(old)
    before = {**_defaults(new), **{k: v for k, v in given.items() if k in _values(new)}}
    return _diff(before, old.messages, new)


@dataclass(frozen=True)
class Entry:
    """One checkpoint as the history list shows it: what it is (`head`) and what it changed,
    at the level the step happened (`diff`) and at each level (`diffs`: path, diff)."""

    checkpoint: Checkpoint
    kind: str  #: start, restart, input, ran, paused, stopped, error, completed, edit, fork
    diff: StateDiff
    head: str
    diffs: tuple[tuple[str, StateDiff], ...] = ()

    def diff_at(self, path: str) -> StateDiff:
        """What this step changed at level `path` ("" the top level)."""
        return dict(self.diffs).get(path, self.diff if not path else StateDiff())

    @property
    def label(self) -> str:
        """`step 2 · run · EXECUTE ran · set note · +1 message`; changes inside a subgraph say
        where: `WRITER/DRAFT ran · WRITER: set draft`."""
        detail = _summary(self)
        return (f"step {self.checkpoint.step} · {self.checkpoint.source} · {self.head}"
                + (f" · {detail}" if detail else ""))


def _summary(entry: Entry) -> str:
    """What an entry changed, level by level; a conversation shared by several levels counts once."""
    if not entry.diffs:
        return entry.diff.summary()
    shared = {frame.path for frame in entry.checkpoint.frames if frame.shares_messages}
    parts = []
    for path, diff in entry.diffs:
        if path in shared:
            diff = StateDiff(diff.fields)
        said = diff.summary()
        if said:
            parts.append(f"{path}: {said}" if path else said)
    return " · ".join(parts)


def _ran(checkpoint: Checkpoint, parent: Checkpoint | None) -> bool:
    """True when a node ran in the step that made `checkpoint` (the step count went up)."""
    return checkpoint.source == "run" and parent is not None and checkpoint.step == parent.step + 1


def _kind(checkpoint: Checkpoint, parent: Checkpoint | None, diff: StateDiff) -> str:
    if checkpoint.source != "run":
        return checkpoint.source
    if parent is None:
        return "start"
    if checkpoint.node is None:  # a completed thread given new input starts over
        return "restart"
    if _ran(checkpoint, parent):
        return "ran"
    status = checkpoint.status
    if status in (S.INTERRUPTED_BEFORE, S.INTERRUPTED_AFTER) and not diff.changed:
        return "paused"
    return {S.STOPPED: "stopped", S.ERROR: "error", S.COMPLETED: "completed"}.get(status, "input")


_STATUS_WORDS = {S.INTERRUPTED_BEFORE: "paused before", S.INTERRUPTED_AFTER: "paused after",
                 S.STOPPED: "stopped", S.ERROR: "failed", S.COMPLETED: "completed", S.RUNNING: "running"}


def _head(checkpoint: Checkpoint, kind: str) -> str:
    node = checkpoint.node or "START"
    meta = checkpoint.state.execution_meta
    return {
        "start": "start (input)",
        "restart": "restart (new input)",
        "input": "input on resume",
        "ran": f"{node} ran" + {S.INTERRUPTED_AFTER: ", paused after", S.COMPLETED: ", completed",
                                S.ERROR: ", routing failed"}.get(checkpoint.status, ""),
        "paused": f"{_STATUS_WORDS[checkpoint.status]} {node}",
        "stopped": f"stopped, next {meta.next_node or node}",
        "error": f"{node} failed",
        "completed": "completed",
        "edit": f"edited at {_STATUS_WORDS[checkpoint.status]} {node}",
        "fork": f"forked at {_STATUS_WORDS[checkpoint.status]} {node}",
    }[kind]


def entries(history: list[Checkpoint]) -> list[Entry]:
    """The history (newest first) as list rows: what each checkpoint is and changed."""
    by_id = {c.checkpoint_id: c for c in history}
    out = []
    for checkpoint in history:
        parent = by_id.get(checkpoint.parent_id or "")
        known = parent is not None or checkpoint.parent_id is None
        # unknown: the parent is older than the history loaded, or in another thread (a fork)
        diffs = tuple((path, level_diff(parent, checkpoint, path) if known else StateDiff())
                      for path in levels(checkpoint))
        diff = _main(checkpoint, diffs)
        kind = _kind(checkpoint, parent, diff)
        out.append(Entry(checkpoint, kind, diff, _head(checkpoint, kind), diffs if len(diffs) > 1 else ()))
    return out


def _main(checkpoint: Checkpoint, diffs: tuple[tuple[str, StateDiff], ...]) -> StateDiff:
    """The diff at the level the step happened: where its node ran, else where fields changed."""
    if len(diffs) == 1:
        return diffs[0][1]
    by_path = dict(diffs)
    node = checkpoint.node or ""
    level = node.rpartition("/")[0] if checkpoint.source == "run" else ""
    if by_path.get(level, StateDiff()).fields:
        return by_path[level]
    return next((d for _, d in reversed(diffs) if d.fields), by_path[""])


def _chain(history: Iterable[Checkpoint], checkpoint: Checkpoint) -> list[Checkpoint]:
    """`checkpoint` and its ancestors in `history`, oldest first."""
    by_id = {c.checkpoint_id: c for c in history}
    chain, seen = [checkpoint], {checkpoint.checkpoint_id}
    while chain[-1].parent_id in by_id and chain[-1].parent_id not in seen:
        chain.append(by_id[chain[-1].parent_id])
        seen.add(chain[-1].checkpoint_id)
    chain.reverse()
    return chain


def path_to(history: list[Checkpoint], checkpoint: Checkpoint) -> list[str]:
    """The nodes run, in order, from the start of the run that led to `checkpoint`."""
    chain = _chain(history, checkpoint)
    path: list[str] = []
    for parent, child in zip([None, *chain], chain, strict=False):
        if child.node is None and child.source == "run":  # a (re)start at the entry point
            path = []
        elif _ran(child, parent) and child.node:
            path.append(child.node)
    return path


def path_edges(path: list[str]) -> frozenset[tuple[str, str]]:
    """The arrows along a path (from START)."""
    return frozenset(zip([START, *path], path, strict=False))


_PHASE: dict[ExecutionStatus, Phase] = {
    S.INTERRUPTED_BEFORE: "before", S.INTERRUPTED_AFTER: "after", S.RUNNING: "after",
    S.COMPLETED: "done", S.STOPPED: "stopped", S.ERROR: "error",
}


def position_of(checkpoint: Checkpoint, path: list[str]) -> Position:
    """Where a saved checkpoint stands on the graph, with the path that led there."""
    meta = checkpoint.state.execution_meta
    node = meta.current_node
    phase = _PHASE[checkpoint.status]
    last = path[-1] if path else START
    edge: tuple[str, str] | None = (path[-2] if len(path) > 1 else START, last) if path else None
    if node is None:  # the input, before any node ran
        node, phase, edge = START, "after", None
    elif checkpoint.status is S.STOPPED and meta.next_node:
        node = meta.next_node
    if checkpoint.status is S.INTERRUPTED_BEFORE or (checkpoint.status is S.ERROR and node != last):
        edge = (last, node)
    elif checkpoint.status is S.COMPLETED:
        edge = (last, END)
    return Position(current=node, phase=phase, visited=frozenset(path), edge=edge,
                    path_edges=path_edges(path) | ({edge} if edge else frozenset()))


def last_node_diff(history: list[Checkpoint], checkpoint: Checkpoint, path: str = "") -> tuple[str | None, StateDiff]:
    """The last node that ran up to `checkpoint` and what it changed at level `path` (for
    "changed" marks)."""
    chain = _chain(history, checkpoint)
    for parent, child in zip(reversed([None, *chain[:-1]]), reversed(chain), strict=False):
        if child.node is None and child.source == "run":
            break
        if _ran(child, parent) and parent is not None:
            return child.node, level_diff(parent, child, path)
    return None, StateDiff()
