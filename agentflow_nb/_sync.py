"""Sync over async, in one place.

A sync call either runs its coroutine on one background event-loop thread (`run`, `iterate`),
which works the same from a script, from a worker thread and from inside a running event loop
(a notebook cell) — without nest-asyncio, which is archived and hangs "Run All" on ipykernel 7 —
or, when the calling thread runs no loop and the work needs no particular loop, on a private
loop right in the calling thread (`run_here`, `iterate_here`): no thread hop at all.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

__all__ = ["free", "in_loop_thread", "iterate", "iterate_here", "loop", "run", "run_here"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def loop() -> asyncio.AbstractEventLoop:
    """The background loop, started on first use (a daemon thread)."""
    global _loop, _thread
    with _lock:
        if _loop is None or _thread is None or not _thread.is_alive():
            new_loop = asyncio.new_event_loop()
            ready = threading.Event()

            def serve() -> None:
                asyncio.set_event_loop(new_loop)
                new_loop.call_soon(ready.set)
                new_loop.run_forever()

            _thread = threading.Thread(target=serve, name="agentflow-loop", daemon=True)
            _loop = new_loop
            _thread.start()
            ready.wait()
        return _loop


def in_loop_thread() -> bool:
    """True when called from the background loop's own thread."""
    return _thread is not None and threading.current_thread() is _thread


def free() -> bool:
    """True when this thread runs no event loop, so a coroutine may run right here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return True
    return False


def _private() -> asyncio.Runner:
    # a loop factory keeps the thread's current-loop setting untouched
    return asyncio.Runner(loop_factory=asyncio.new_event_loop)


def run_here(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on a private loop in this thread, as `asyncio.run` does.

    Ctrl-C in the main thread cancels `coro` at its next `await` (a sync function in flight
    finishes first); a second Ctrl-C interrupts at once.
    """
    with _private() as runner:
        return runner.run(coro)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on the background loop and wait for its result.

    Raises:
        RuntimeError: called from the loop thread itself (an async node calling a sync API),
            which would wait on itself forever.
    """
    if in_loop_thread():
        coro.close()
        raise RuntimeError(
            "a sync agentflow_nb call (`invoke`, `stream`, `stop`, ...) was made from inside an "
            "async node; use the async twin instead, e.g. `await app.ainvoke(...)`"
        )
    future = asyncio.run_coroutine_threadsafe(coro, loop())
    try:
        return future.result()
    except BaseException:
        future.cancel()  # e.g. KeyboardInterrupt in the caller: do not leave the run going
        raise


async def _next(agen: AsyncIterator[T]) -> T:
    return await agen.__anext__()


async def _close(agen: AsyncIterator[Any]) -> None:
    aclose = getattr(agen, "aclose", None)
    if aclose is not None:
        await aclose()


def iterate_here(agen: AsyncIterator[T]) -> Iterator[T]:
    """Iterate an async iterator from sync code on a private loop in this thread."""
    runner = _private()
    try:
        while True:
            try:
                item = runner.run(_next(agen))
            except StopAsyncIteration:
                return
            yield item
    finally:
        _finish_here(runner, agen)


def _finish_here(runner: asyncio.Runner, agen: AsyncIterator[Any]) -> None:
    def finish() -> None:
        try:
            runner.run(_close(agen))
        finally:
            runner.close()

    if free():
        finish()
    else:  # finalised from inside some running loop (the garbage collector): close it elsewhere
        helper = threading.Thread(target=finish, name="agentflow-close")
        helper.start()
        helper.join()


def iterate(agen: AsyncIterator[T]) -> Iterator[T]:
    """Iterate an async iterator from sync code, one item per hop to the loop thread."""
    try:
        while True:
            try:
                item = run(_next(agen))
            except StopAsyncIteration:
                return
            yield item
    finally:
        if in_loop_thread():  # finalised by the garbage collector on the loop thread
            loop().create_task(_close(agen))
        else:
            run(_close(agen))
