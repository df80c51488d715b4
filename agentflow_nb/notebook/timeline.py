"""Reading a thread's history: what each checkpoint changed, the path to it, where it stands.

Pure functions over `Checkpoint`s (the engine's public records), used by the session, the
history list, the inspector's marks and the static fallback alike.
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
    "Entry", "StateDiff", "diff_states", "entries", "last_node_diff", "path_edges", "path_to", "position_of",
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
    before, after = _values(old), _values(new)
    fields = tuple(k for k, v in after.items() if k not in before or before[k] != v)
    fields += tuple(k for k in before if k not in after)
    kept, now = old.messages, new.messages
    # Messages are append-only in practice: comparing the last shared one is enough.
    appended = len(now) >= len(kept) and (not kept or now[len(kept) - 1].message_id == kept[-1].message_id)
    return StateDiff(fields, len(now) - len(kept) if appended else 0, not appended)


@dataclass(frozen=True)
class Entry:
    """One checkpoint as the history list shows it: what it is (`head`) and what it changed."""

    checkpoint: Checkpoint
    kind: str  #: start, restart, input, ran, paused, stopped, error, completed, edit, fork
    diff: StateDiff
    head: str

    @property
    def label(self) -> str:
        """`step 2 · run · EXECUTE ran · set note · +1 message`."""
        detail = self.diff.summary()
        return (f"step {self.checkpoint.step} · {self.checkpoint.source} · {self.head}"
                + (f" · {detail}" if detail else ""))


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
        if parent is not None or checkpoint.parent_id is None:
            diff = diff_states(parent.state if parent else None, checkpoint.state)
        else:  # the parent is older than the history loaded, or in another thread (a fork)
            diff = StateDiff()
        kind = _kind(checkpoint, parent, diff)
        out.append(Entry(checkpoint, kind, diff, _head(checkpoint, kind)))
    return out


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


def last_node_diff(history: list[Checkpoint], checkpoint: Checkpoint) -> tuple[str | None, StateDiff]:
    """The last node that ran up to `checkpoint` and what it changed (for "changed" marks)."""
    chain = _chain(history, checkpoint)
    for parent, child in zip(reversed([None, *chain[:-1]]), reversed(chain), strict=False):
        if child.node is None and child.source == "run":
            break
        if _ran(child, parent) and parent is not None:
            return child.node, diff_states(parent.state, child.state)
    return None, StateDiff()
