"""A compiled graph used as a node of another graph, and how state passes in and out of it.

Example:
    >>> from agentflow_nb.graph import END, START, StateGraph
    >>> from agentflow_nb.state import AgentState
    >>> class Article(AgentState):
    ...     topic: str = ""
    ...     draft: str = ""
    >>> writer = StateGraph(Article)
    >>> writer.add_node("DRAFT", lambda s: {"draft": f"all about {s.topic}"})  # doctest: +ELLIPSIS
    <...StateGraph object at ...>
    >>> parent = StateGraph(Article)
    >>> parent.add_node("WRITER", writer.compile())  # doctest: +ELLIPSIS
    <...StateGraph object at ...>
    >>> app = parent.compile()
    >>> app.invoke({"topic": "owls"}, config={"thread_id": "t"})["state"].draft
    'all about owls'
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentflow_nb.errors import GraphError, name_list, unknown_name
from agentflow_nb.graph.paths import SEP, split_path
from agentflow_nb.graph.updates import set_fields
from agentflow_nb.state import AgentState

if TYPE_CHECKING:
    from agentflow_nb.graph.compiled import CompiledGraph
    from agentflow_nb.graph.nodes import Callee

__all__ = ["Subgraph", "check_path"]

_ENGINE = ("messages", "execution_meta")


@dataclass(frozen=True)
class Subgraph:
    """A `CompiledGraph` as a node: `graph.add_node("WRITER", writer_app)`.

    State passes by field name unless you map it:

    - **in**, when the subgraph starts: every field both schemas declare, and extra fields when
      the subgraph's schema allows them. `input={"topic": "subject"}` instead passes exactly
      the fields listed: the subgraph's `topic` from the parent's `subject`.
    - **out**, when it ends: every such field the subgraph changed (its nodes, or your edits),
      so a parent field you edited while paused inside survives unless the subgraph wrote it.
      `output={"draft": "article"}` instead passes exactly those: its `draft` to the parent's
      `article`.
    - **messages** are the thread's one conversation: the subgraph sees the parent's and adds
      to it as it runs. `share_messages=False` gives it a conversation of its own, which starts
      empty and is dropped when it ends.

    Mappings are keyed by the subgraph's field names, valued by the parent's. Types are
    checked when the parent compiles: a field that cannot pass is a `GraphError` naming it.
    """

    name: str
    graph: CompiledGraph
    input: Mapping[str, str] | None = None
    output: Mapping[str, str] | None = None
    share_messages: bool = True

    @classmethod
    def of(
        cls,
        name: str,
        graph: CompiledGraph,
        *,
        input: Mapping[str, str] | None = None,
        output: Mapping[str, str] | None = None,
        share_messages: bool = True,
    ) -> Subgraph:
        """Node `name` running `graph`; `check` it against the parent when that compiles.

        Raises:
            GraphError: a mapping is not a dict of field names.
        """
        return cls(name, graph, _mapping(name, "input", input), _mapping(name, "output", output),
                   bool(share_messages))

    def check(self, parent: type[AgentState]) -> None:
        """Check that the subgraph can run as a node of a graph whose state is `parent`.

        Raises:
            GraphError: the subgraph was compiled with its own checkpointer, a mapping names a
                field a schema does not have, or a field's types do not fit; the message says which.
        """
        if self.graph.checkpointer_given:
            raise GraphError(
                f"subgraph `{self.name}` was compiled with its own checkpointer "
                f"(`{type(self.graph.checkpointer).__name__}`), but a subgraph runs under its parent's "
                "thread and checkpointer, so that one would never be used; compile it without "
                "one (`builder.compile()`) and give the checkpointer to the outermost graph"
            )
        child = self.graph.schema
        both = _shared(parent, child)
        pairs_in = [(n, n) for n in both] if self.input is None else list(self.input.items())
        pairs_out = [(n, n) for n in both] if self.output is None else list(self.output.items())
        for mine, theirs in pairs_in:
            self._field(child, mine, "input", "the subgraph's")
            self._field(parent, theirs, "input", "the parent's")
            self._fits(parent, theirs, child, mine, "in")
        for mine, theirs in pairs_out:
            self._field(child, mine, "output", "the subgraph's")
            self._field(parent, theirs, "output", "the parent's")
            self._fits(child, mine, parent, theirs, "out")

    # -- at run time ----------------------------------------------------------------------

    def start(self, parent: AgentState, thread_id: str) -> AgentState:
        """The subgraph's first state, made from its parent's (validated by its schema)."""
        child = self.graph.new_state(thread_id)
        if self.input is None:
            names = _shared(type(parent), self.graph.schema)
            values = {name: getattr(parent, name) for name in names}
            if _allows_extra(self.graph.schema) and parent.model_extra:
                values.update(parent.model_extra)
        else:
            values = {mine: getattr(parent, theirs) for mine, theirs in self.input.items() if _has(parent, theirs)}
        if values:
            child = set_fields(child, values)
        if self.share_messages:
            child = child.model_copy(update={"messages": parent.messages})
        return child

    def finish(self, child: AgentState, parent: AgentState, changed: frozenset[str] | None) -> dict[str, Any]:
        """The updates for the parent when the subgraph ends: the fields it changed, mapped."""
        def did_change(name: str) -> bool:
            return changed is None or name in changed

        if self.output is not None:
            return {theirs: getattr(child, mine) for mine, theirs in self.output.items()
                    if did_change(mine) and _has(child, mine)}
        names = _shared(type(parent), type(child))
        updates = {name: getattr(child, name) for name in names if did_change(name)}
        if _allows_extra(type(parent)) and child.model_extra:
            updates.update((k, v) for k, v in child.model_extra.items() if did_change(k))
        return updates

    # -- checks ---------------------------------------------------------------------------

    def _field(self, schema: type[AgentState], name: str, what: str, whose: str) -> None:
        if name in _ENGINE:
            fix = ("messages are shared as one conversation; pass `share_messages=False` for a "
                   "subgraph with its own") if name == "messages" else "it is managed by the engine"
            raise GraphError(f"{what} of subgraph `{self.name}` names `{name}`; {fix}")
        if name not in schema.model_fields and not _allows_extra(schema):
            fields = [f for f in schema.model_fields if f not in _ENGINE]
            raise unknown_name(f"{what} of subgraph `{self.name}`", name, fields,
                               kind=f"a field of {whose} state `{schema.__name__}`", kinds="its fields")

    def _fits(self, source: type[AgentState], src: str, target: type[AgentState], dst: str, way: str) -> None:
        if src not in source.model_fields or dst not in target.model_fields:
            return  # an extra field: checked by validation when it passes
        have, want = source.model_fields[src].annotation, target.model_fields[dst].annotation
        if _assignable(have, want):
            return
        inside, outside = (dst, src) if way == "in" else (src, dst)
        sub_type, parent_type = (want, have) if way == "in" else (have, want)
        field = f"`{inside}`" if inside == outside else f"`{inside}` (the parent's `{outside}`)"
        raise GraphError(
            f"field {field} of subgraph `{self.name}` is `{_show(sub_type)}` there but "
            f"`{_show(parent_type)}` in the parent, so its value cannot pass {way}; give both one "
            "type, or choose the fields that pass with `input=`/`output=` mappings"
        )


def _mapping(name: str, what: str, mapping: Mapping[str, str] | None) -> Mapping[str, str] | None:
    if mapping is None:
        return None
    if not isinstance(mapping, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                    for k, v in mapping.items()):
        raise GraphError(
            f"{what} of subgraph `{name}` must be a dict of field names, the subgraph's to the "
            f"parent's, e.g. {{'topic': 'subject'}}; got `{mapping!r}`"
        )
    return types.MappingProxyType(dict(mapping))


def _allows_extra(schema: type[AgentState]) -> bool:
    return schema.model_config.get("extra") == "allow"


def _shared(a: type[AgentState], b: type[AgentState]) -> list[str]:
    """The fields both schemas declare, besides the engine's."""
    return [name for name in a.model_fields if name in b.model_fields and name not in _ENGINE]


def _has(state: AgentState, name: str) -> bool:
    return name in type(state).model_fields or name in (state.model_extra or {})


# -- type compatibility -------------------------------------------------------------------

_UNIONS = (typing.Union, types.UnionType)


def _assignable(have: Any, want: Any) -> bool:
    """Whether every value of type `have` is a valid `want` (conservatively: False when unsure)."""
    have, want = _bare(have), _bare(want)
    if want in (Any, object) or have == want:
        return True
    if typing.get_origin(have) in _UNIONS:
        return all(_assignable(arg, want) for arg in typing.get_args(have))
    if typing.get_origin(want) in _UNIONS:
        return any(_assignable(have, arg) for arg in typing.get_args(want))
    if typing.get_origin(have) is typing.Literal:
        return all(_assignable(type(value), want) for value in typing.get_args(have))
    if isinstance(have, type) and isinstance(want, type):
        return issubclass(have, want) or (have is int and want is float)
    origin = typing.get_origin(have)
    if origin is not None and origin == typing.get_origin(want):
        have_args, want_args = typing.get_args(have), typing.get_args(want)
        return len(have_args) == len(want_args) and all(map(_assignable, have_args, want_args))
    return False


def _bare(annotation: Any) -> Any:
    return typing.get_args(annotation)[0] if typing.get_origin(annotation) is typing.Annotated else annotation


def _show(annotation: Any) -> str:
    return annotation.__name__ if isinstance(annotation, type) else str(annotation).replace("typing.", "")


# -- paths --------------------------------------------------------------------------------


def check_path(nodes: Mapping[str, Callee | Subgraph], what: str, path: str, *, allow: Iterable[str] = ()) -> None:
    """Raise `GraphError` unless `path` names a node (`"PLAN"`) or a node inside a subgraph
    (`"WRITER/REVIEW"`, any depth) of the graph with these `nodes`."""
    if not isinstance(path, str):
        raise unknown_name(what, path, list(nodes))
    parts = split_path(path)
    where, level = "", nodes
    for i, part in enumerate(parts):
        if part in level or (i == 0 and part in allow):
            entry = level.get(part)
            if i == len(parts) - 1:
                return
            if isinstance(entry, Subgraph):
                where, level = SEP.join(parts[: i + 1]), entry.graph.nodes
                continue
            raise GraphError(
                f"{what} names `{path}`, but `{SEP.join(parts[: i + 1])}` is not a subgraph, so it has no "
                f"node `{parts[i + 1]}`; subgraph nodes are {name_list(_subgraph_paths(nodes)) }"
            )
        choices = [f"{where}{SEP}{n}" if where else n for n in level]
        raise unknown_name(what, path, choices)


def _subgraph_paths(nodes: Mapping[str, Callee | Subgraph], prefix: str = "") -> list[str]:
    out = []
    for name, entry in nodes.items():
        if isinstance(entry, Subgraph):
            out.append(prefix + name)
            out += _subgraph_paths(entry.graph.nodes, prefix + name + SEP)
    return out
