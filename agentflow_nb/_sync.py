"""Sync over async, in one place.

A sync call either runs its coroutine on one background event-loop thread (`run`, `iterate`),
which works the same from a script, from a worker thread and from inside a running event loop
(a notebook cell) — without nest-asyncio, which is archived and hangs "Run All" on ipykernel 7 —
or, when the calling thread runs no loop and the work needs no particular loop, on a private
loop right in the calling thread (`run_here`, `iterate_here`): no thread hop at all.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import signal
import sys
import threading
import weakref
from asyncio.events import _set_running_loop
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = [
    "CtrlC", "blocking_ok", "free", "in_loop_thread", "iterate", "iterate_here", "loop", "off_loop", "run",
    "run_here", "submit",
]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_private_loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


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


class CtrlC:
    """Ctrl-C as a graceful stop for one run driven from sync code.

    While armed (in the main thread, during the run), the first Ctrl-C calls `request_stop` — the
    run goes on to its next node boundary and is saved there — and a second one raises
    `KeyboardInterrupt` at once. Once the run is over, `raise_if_pressed` raises the
    `KeyboardInterrupt` the user asked for.
    """

    def __init__(self, request_stop: Callable[[], None]) -> None:
        self.request_stop = request_stop
        self.pressed = False

    def on_sigint(self, signum: int, frame: Any) -> None:
        """The SIGINT handler while armed."""
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True
        self.request_stop()

    def raise_if_pressed(self) -> None:
        """Raise the `KeyboardInterrupt` the user asked for, now that the run is over."""
        if self.pressed:
            raise KeyboardInterrupt(
                "interrupted (Ctrl-C): the run stopped at a node boundary and its thread is saved; "
                "invoke it again to go on"
            )


def _arm(ctrl_c: CtrlC | None) -> Any:
    """Catch Ctrl-C as `ctrl_c` says: only in the main thread, and only when nobody else has
    taken SIGINT over. Returns what `_disarm` needs to undo it (None: nothing was done)."""
    if ctrl_c is None or threading.current_thread() is not threading.main_thread() \
            or _getsignal(_SIGINT) is not signal.default_int_handler:
        return None
    return _signal(_SIGINT, ctrl_c.on_sigint)


def _disarm(previous: Any) -> None:
    if previous is not None:
        _signal(_SIGINT, previous)


@contextmanager
def _armed(ctrl_c: CtrlC | None) -> Iterator[None]:
    """`_arm` while the body runs (a sync call without a result to wait for uses the two
    directly: this context manager's own machinery is a good part of a short call)."""
    previous = _arm(ctrl_c)
    try:
        yield
    finally:
        _disarm(previous)


# `signal`'s own functions, without the module's enum conversions (at every sync call)
try:
    from _signal import getsignal as _getsignal
    from _signal import signal as _signal
except ImportError:  # another Python than CPython
    _getsignal, _signal = signal.getsignal, signal.signal
_SIGINT = int(signal.SIGINT)


def free() -> bool:
    """True when this thread runs no event loop, so a coroutine may run right here."""
    return asyncio._get_running_loop() is None  # asked at every sync call: no exception raised to answer


def _new_private_loop() -> asyncio.AbstractEventLoop:
    new_loop = asyncio.new_event_loop()
    _private_loops.add(new_loop)
    return new_loop


def _private() -> asyncio.Runner:
    # a loop factory keeps the thread's current-loop setting untouched
    return asyncio.Runner(loop_factory=_new_private_loop)


class _KeptRunner:
    """A thread's private runner for `run_here`, kept between calls (a new event loop per call,
    a selector and a self-pipe made and closed, costs more than a short run itself). Its loop
    is closed when the thread ends and drops it."""

    def __init__(self) -> None:
        self.runner = _private()
        self.context = contextvars.copy_context()  # one for the thread's runs, as `Runner.run` keeps one
        self.loop = loop = self.runner.get_loop()
        #: The loop's queue of ready callbacks, for `_first_step_here`: asyncio's own loops have
        #: one (uvloop's do not); in debug mode the loop times each callback itself.
        self.ready: deque[asyncio.Handle] | None = None if loop.get_debug() else getattr(loop, "_ready", None)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """`Runner.run(coro)` without what `run_here` does not need: its SIGINT handler (Ctrl-C is
        `CtrlC`'s; `signal.getsignal`'s enum conversions at every call) and its checks."""
        loop = self.loop
        if self.ready is not None and loop._task_factory is None:  # type: ignore[attr-defined]
            # what `loop.create_task` makes without a task factory, out of debug mode
            task = asyncio.Task(coro, loop=loop, context=self.context)
        else:
            task = loop.create_task(coro, context=self.context)
        try:
            if self._first_step_here(loop) and task.done() and not self.ready:
                return task.result()
            return loop.run_until_complete(task)
        except BaseException:
            # what ends the call (a second Ctrl-C too) reaches the caller: the task's copy counts
            # as seen, else the task's finaliser logs it, in whatever a later collection interrupts
            if task.done() and not task.cancelled():
                task.exception()
            del task  # nor does this frame, kept by the traceback, keep the task alive
            raise

    def _first_step_here(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Run the new task's first step right here when nothing else is due on the loop, as
        the loop's first turn would run it, and as Python 3.12's eager tasks start: with the
        loop marked running in this thread and the task current. A sync call of a plain graph
        whose sync nodes never wait on anything ends in that step, without a turn of the loop
        (selector poll, `run_forever`'s set-up): that turn is most of a short call's cost when
        the CPU caches are cold. A task that awaits something, or left other callbacks due, is
        then run on by `run_until_complete` as before."""
        ready = self.ready
        # only the new task's step is due (the loop keeps no callback or timer from an earlier
        # call): it is the one the loop's next turn would run first
        if ready is None or len(ready) != 1 or loop._scheduled:  # type: ignore[attr-defined]
            return False
        step = ready.popleft()
        hooks = sys.get_asyncgen_hooks()
        # what `run_forever` sets up for its callbacks: `get_running_loop()`, `is_running()`,
        # async generators registered with the loop (closed by it)
        loop._thread_id = threading.get_ident()  # type: ignore[attr-defined]
        _set_running_loop(loop)
        sys.set_asyncgen_hooks(
            loop._asyncgen_firstiter_hook, loop._asyncgen_finalizer_hook)  # type: ignore[attr-defined]
        try:
            # the task's step in its context, as `Handle._run` calls it (a task's step lets no
            # exception out but `KeyboardInterrupt` and `SystemExit`, which `_run` passes on too)
            step._context.run(step._callback, *step._args)
        finally:
            del step  # the handle holds the task: not kept by a traceback of this frame
            sys.set_asyncgen_hooks(*hooks)
            _set_running_loop(None)
            loop._thread_id = None  # type: ignore[attr-defined]
        return True

    def __del__(self) -> None:
        try:
            self.runner.get_loop().close()
        except Exception:  # never started, or the interpreter is shutting down
            pass


_kept = threading.local()


def _kept_runner() -> _KeptRunner:
    kept = getattr(_kept, "runner", None)
    if kept is None:
        kept = _kept.runner = _KeptRunner()
    return kept


def blocking_ok() -> bool:
    """True when the running loop is the private loop of one sync call (`run_here`,
    `iterate_here`): nothing else runs on it, so a store may block it instead of paying for a
    hop to a worker thread. False on any shared loop (the background loop, the user's own)."""
    try:
        return asyncio.get_running_loop() in _private_loops
    except RuntimeError:
        return False


async def off_loop(func: Callable[..., T], *args: Any) -> T:
    """Run blocking `func(*args)` where it holds up no one: inline on a private loop
    (`blocking_ok`), else in a worker thread so that the running loop (a notebook's, or the
    caller's) stays responsive."""
    if blocking_ok():
        return func(*args)
    return await asyncio.to_thread(func, *args)


def run_here(coro: Coroutine[Any, Any, T], ctrl_c: CtrlC | None = None) -> T:
    """Run `coro` on this thread's private loop, as `asyncio.run` does (Ctrl-C: see `CtrlC`).

    The loop is kept for the thread's next call. A run that ends by an exception from outside
    it (a second Ctrl-C) may leave tasks behind: that loop is then closed, its tasks cancelled.
    """
    kept = _kept_runner()
    previous = _arm(ctrl_c)
    try:
        result = kept.run(coro)
    except BaseException as exc:
        _disarm(previous)
        if not isinstance(exc, Exception) or asyncio.all_tasks(kept.loop):
            kept.runner.close()
            _kept.runner = None  # the next call starts a new loop
        raise
    _disarm(previous)
    if ctrl_c is not None:
        ctrl_c.raise_if_pressed()
    return result


def run(coro: Coroutine[Any, Any, T], ctrl_c: CtrlC | None = None) -> T:
    """Run `coro` on the background loop and wait for its result (Ctrl-C: see `CtrlC`).

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
    with _armed(ctrl_c):  # armed before the run starts: a press at its very start is graceful too
        future = asyncio.run_coroutine_threadsafe(coro, loop())
        try:
            result = _wait(future, polling=ctrl_c is not None)
        except BaseException:
            future.cancel()  # e.g. KeyboardInterrupt in the caller: do not leave the run going
            raise
    if ctrl_c is not None:
        ctrl_c.raise_if_pressed()
    return result


#: How long a wait for the background loop blocks at most while Ctrl-C is armed (seconds).
_POLL = 0.05


def _wait(future: concurrent.futures.Future[T], *, polling: bool) -> T:
    """`future.result()`. With `polling` (Ctrl-C armed) the wait ends often: a signal that lands
    just as a blocking wait begins is only handled when that wait ends (CPython), and a run
    that waits for its Ctrl-C (a node that ends once the press was seen) would wait forever."""
    if polling:
        while not concurrent.futures.wait((future,), timeout=_POLL).done:
            pass
    return future.result()


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Start `coro` on the background loop and return at once; its future has the result.

    Safe from any thread, the loop thread included (then the coroutine starts on the loop's
    next turn). This is how work goes on while a notebook cell has returned.
    """
    return asyncio.run_coroutine_threadsafe(coro, loop())


async def _next(agen: AsyncIterator[T]) -> T:
    return await agen.__anext__()


async def _close(agen: AsyncIterator[Any]) -> None:
    aclose = getattr(agen, "aclose", None)
    if aclose is not None:
        await aclose()


def _items(agen: AsyncIterator[T], ctrl_c: CtrlC | None, run_one: Callable[[Any], T]) -> Iterator[T]:
    """The items of `agen`, each computed by `run_one(coroutine)`. After a first Ctrl-C (see
    `CtrlC`) the items up to the stop are drained, not handed out, then it raises."""
    while True:
        try:
            with _armed(ctrl_c):
                item = run_one(_next(agen))
        except StopAsyncIteration:
            break
        if ctrl_c is None or not ctrl_c.pressed:
            yield item
    if ctrl_c is not None:
        ctrl_c.raise_if_pressed()


def iterate_here(agen: AsyncIterator[T], ctrl_c: CtrlC | None = None) -> Iterator[T]:
    """Iterate an async iterator from sync code on a private loop in this thread."""
    runner = _private()
    try:
        yield from _items(agen, ctrl_c, runner.run)
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


def iterate(agen: AsyncIterator[T], ctrl_c: CtrlC | None = None) -> Iterator[T]:
    """Iterate an async iterator from sync code, one item per hop to the loop thread."""
    try:
        yield from _items(agen, ctrl_c, run)
    finally:
        if in_loop_thread():  # finalised by the garbage collector on the loop thread
            loop().create_task(_close(agen))
        else:
            run(_close(agen))
