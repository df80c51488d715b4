"""Routing: which node comes after another, by its edge, its router or a `Command(goto=...)`."""

from __future__ import annotations

from collections.abc import Awaitable, Coroutine
from types import CoroutineType
from typing import TYPE_CHECKING, Any

from agentflow_nb.errors import NodeError, name_list
from agentflow_nb.graph.command import END
from agentflow_nb.graph.nodes import awaitable
from agentflow_nb.graph.paths import join_path

if TYPE_CHECKING:
    from agentflow_nb.graph.compiled import CompiledGraph
    from agentflow_nb.graph.frames import Stack
    from agentflow_nb.graph.nodes import Callee
    from agentflow_nb.graph.state_graph import Branch

__all__ = ["Routing"]


class Routing:
    """The routing half of a run (`GraphRun`): the node after another, in the innermost graph
    of the run's stack."""

    graph: CompiledGraph
    config: dict[str, Any]
    thread_id: str

    async def _route(self, source: str, stack: Stack) -> str:
        """The node after `source`, by its edge or its router."""
        target = self._next(source, stack)
        return await target if type(target) is CoroutineType else target

    def _next(self, source: str, stack: Stack) -> str | Coroutine[Any, Any, str]:
        """`_route` with no coroutine of its own for an edge or a sync router (the usual case,
        at every step): their answer comes at once; an async router's as a coroutine to await."""
        graph = stack.frames[-1].graph if stack.frames else self.graph
        branch = graph.branches.get(source)
        if branch is None:
            targets = graph.edges.get(source)
            if not targets:
                path = join_path(stack.prefix, source)
                raise NodeError(
                    f"node `{path}` has no edge out and returned no `Command(goto=...)`",
                    node=path, thread_id=self.thread_id,
                )
            return targets[0]
        router = branch.router
        if router.is_async:
            return self._resolved(stack, source, router.call(stack.current, self.config, in_thread=False), branch)
        # routers are quick: called right here (`Callee.here`, written out: at every step)
        key = router.func(stack.current, self.config) if router.wants_config else router.func(stack.current)
        path_map = branch.path_map
        if type(key) is str and path_map is not None and key in path_map:  # the usual answer
            return path_map[key]
        if awaitable(key):
            return self._resolved(stack, source, key, branch)
        return self._resolve(stack, source, key, path_map, router)

    async def _resolved(self, stack: Stack, source: str, key: Awaitable[Any], branch: Branch) -> str:
        """`_resolve` the key an async router (or a sync one returning an awaitable) gives."""
        return self._resolve(stack, source, await key, branch.path_map, branch.router)

    def _resolve(
        self, stack: Stack, source: str, key: Any, path_map: dict[Any, str] | None, router: Callee | None = None
    ) -> str:
        """The node `key` names: `router`'s answer (a key of `path_map`, a node or `END`), or with
        no router a `Command`'s `goto`."""
        if path_map is not None:
            try:
                if key in path_map:
                    return path_map[key]
            except TypeError:  # unhashable key
                pass
        graph = stack.frames[-1].graph if stack.frames else self.graph
        if key == END or key in graph.nodes:
            return key
        valid = list(path_map or ()) or [*graph.nodes, END]
        path = join_path(stack.prefix, source)
        what = "Command(goto=...)" if router is None else f"router `{router.name}`"
        raise NodeError(
            f"{what} of `{path}` returned `{key!r}`; expected one of {name_list(map(str, valid))}",
            node=path, thread_id=self.thread_id,
        )
