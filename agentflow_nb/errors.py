"""The package's errors: a small hierarchy on Python's own types.

Each message names the culprit in backticks, says what was expected, and how to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "AgentflowError",
    "CheckpointCorruptError",
    "GraphError",
    "GraphRecursionError",
    "NodeError",
    "ThreadBusyError",
    "UnknownFieldError",
    "UnknownThreadError",
    "UnsafeFileError",
    "UnsafeRecordError",
    "UnsaveableValueError",
    "did_you_mean",
    "name_list",
    "unknown_node",
]


def name_list(names: Iterable[str]) -> str:
    """`a`, `b`, `c` — for messages."""
    return ", ".join(f"`{n}`" for n in names) or "(none)"


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' did you mean `x`?' for the closest choice, or ''."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f"; did you mean `{close[0]}`?" if close else ""


def unknown_node(what: str, name: object, valid: Iterable[str]) -> GraphError:
    """The error for `what` naming `name`, which is none of the `valid` node names."""
    valid = list(valid)
    return GraphError(
        f"{what} names `{name}`, which is not a node; nodes are {name_list(valid)}"
        f"{did_you_mean(str(name), valid) or '.'}"
    )


class AgentflowError(Exception):
    """Base of every error this package raises on purpose."""


class GraphError(AgentflowError, ValueError):
    """The graph is built or wired wrongly (raised at build or compile time where possible)."""


class NodeError(AgentflowError, RuntimeError):
    """A node failed. The thread is saved with status `ERROR`; invoking it again retries."""

    def __init__(self, message: str, *, node: str, thread_id: str | None) -> None:
        super().__init__(message)
        self.node = node
        self.thread_id = thread_id


class GraphRecursionError(AgentflowError, RecursionError):
    """A run took more steps than `config["recursion_limit"]`; the thread is saved."""

    def __init__(self, message: str, *, thread_id: str, limit: int) -> None:
        super().__init__(message)
        self.thread_id = thread_id
        self.limit = limit


class ThreadBusyError(AgentflowError, RuntimeError):
    """Another run holds this thread right now."""

    def __init__(self, thread_id: str, detail: str = "") -> None:
        super().__init__(
            f"thread `{thread_id}` is already running{detail}; wait for that run to pause or "
            f"finish, call `stop({{'thread_id': '{thread_id}'}})`, or use another thread_id"
        )
        self.thread_id = thread_id


class UnknownThreadError(AgentflowError, LookupError):
    """A thread was asked to resume, but nothing is saved under its id.

    The message names only the thread asked for: a store may be shared between users, so it
    never lists (or guesses at) other threads' ids.
    """

    def __init__(self, thread_id: str) -> None:
        super().__init__(
            f"thread `{thread_id}` has no saved checkpoint to resume. To start a new run, pass "
            'input such as `{"messages": [Message.text_message("...")]}`; `app.threads()` lists '
            "the saved threads."
        )
        self.thread_id = thread_id


class CheckpointCorruptError(AgentflowError, ValueError):
    """A saved thread is damaged (not just torn by a crash mid-write): nothing is run from it.

    `path` and `line` (1-based) say where, when the store is a file; the message says how to
    repair it.
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line


class UnsafeRecordError(CheckpointCorruptError):
    """A saved record is not one this package writes (unknown keys, another version); refused."""


class UnsafeFileError(AgentflowError, OSError):
    """A thread, lock or stop file is a symbolic link (or not a regular file); never followed."""


class UnsaveableValueError(AgentflowError, ValueError):
    """A value cannot be saved so that it loads back as it is; nothing was saved.

    `path` names the value, e.g. `messages[3].metadata.a.b`.
    """

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class UnknownFieldError(AgentflowError, ValueError):
    """An input or edit names a key that is neither a schema field nor already in the state."""
