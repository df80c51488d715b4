"""Wrappers that call user functions — nodes and routers — the same way, sync or async."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentflow_nb.errors import GraphError

__all__ = ["Callee", "PathMap", "awaitable"]

PathMap = Mapping[Any, str]
_PLAIN = frozenset({dict, str, type(None), bool, int})  # results that are never awaitable: no check


def _wants_config(func: Callable[..., Any]) -> bool:
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):  # some builtins and C callables have no signature
        return False
    positional = [
        p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return True
    required = [p for p in positional if p.default is p.empty]
    if len(required) > 2 or not positional:
        raise GraphError(
            f"`{getattr(func, '__name__', func)}` must take `(state)` or `(state, config)`; "
            f"its signature is {inspect.signature(func)}"
        )
    if len(positional) < 2:
        return False
    second = positional[1]  # a defaulted second parameter only gets the config by that name
    return second.default is second.empty or second.name == "config"


def _is_async(func: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(func):
        return True
    call = getattr(func, "__call__", None)  # noqa: B004 - callable objects
    return inspect.iscoroutinefunction(call)


@dataclass(frozen=True)
class Callee:
    """A node body or router: how to call it, decided once when the graph is built.

    On a shared event loop, sync node bodies run in a worker thread so the loop — and with it
    the notebook's buttons and other runs — stays responsive while they work; on a run's private
    loop they run inline (`in_thread=False`). Routers are quick and always run inline.
    """

    name: str
    func: Callable[..., Any]
    is_async: bool
    wants_config: bool

    @classmethod
    def of(cls, name: str, func: Callable[..., Any]) -> Callee:
        """Inspect `func` once."""
        if not callable(func):
            raise GraphError(f"`{name}` must be a function, got a `{type(func).__name__}`")
        return cls(name, func, _is_async(func), _wants_config(func))

    async def call(self, state: Any, config: dict[str, Any], *, in_thread: bool) -> Any:
        """Call with `(state)` or `(state, config)`, awaiting whatever is awaitable."""
        if self.is_async:
            result = await (self.func(state, config) if self.wants_config else self.func(state))
        elif in_thread:
            args: Sequence[Any] = (state, config) if self.wants_config else (state,)
            result = await asyncio.to_thread(self.func, *args)
        else:
            result = self.here(state, config)
        return await result if awaitable(result) else result

    def here(self, state: Any, config: dict[str, Any]) -> Any:
        """Call a sync body right here, as the run's own step (its result may be `awaitable`)."""
        return self.func(state, config) if self.wants_config else self.func(state)


def awaitable(result: Any) -> bool:
    """Whether a body's result must be awaited (a sync function may return a coroutine)."""
    return type(result) not in _PLAIN and inspect.isawaitable(result)
