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
    "ThreadConflictError",
    "UnknownFieldError",
    "UnknownThreadError",
    "UnsafeFileError",
    "UnsafeRecordError",
    "UnsaveableValueError",
    "did_you_mean",
    "name_list",
    "unknown_name",
    "unknown_node",
]


def name_list(names: Iterable[str]) -> str:
    """`a`, `b`, `c` — for messages."""
    return ", ".join(f"`{n}`" for n in names) or "(none)"


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' did you mean `x`?' for the closest choice, or ''."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f"; did you mean `{close[0]}`?" if close else ""


def unknown_name(
    what: str, name: object, valid: Iterable[str], *, kind: str = "a node", kinds: str = "they"
) -> GraphError:
    """The error for `what` naming `name`, which is not `kind`: none of the `valid` names."""
    valid = list(valid)
    subject = "nodes" if kind == "a node" else kinds
    return GraphError(
        f"{what} names `{name}`, which is not {kind}; {subject} are {name_list(valid)}"
        f"{did_you_mean(str(name), valid) or '.'}"
    )


def unknown_node(what: str, name: object, valid: Iterable[str]) -> GraphError:
    """The error for `what` naming `name`, which is none of the `valid` node names."""
    return unknown_name(what, name, valid)


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

    @property
    def path(self) -> tuple[str, ...]:
        """`node` as its parts: `("WRITER", "REVIEW")` for a node inside subgraph `WRITER`."""
        return tuple(self.node.split("/")) if self.node else ()


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


class ThreadConflictError(AgentflowError, RuntimeError):
    """A write was refused because the thread moved on: another writer appended after the
    checkpoint this one meant to follow. Nothing was saved."""

    def __init__(self, thread_id: str, expected: str | None, head: str | None) -> None:
        super().__init__(
            f"thread `{thread_id}` moved on while this write was prepared: its newest checkpoint is "
            f"`{head}`, not `{expected}`, so another writer appended to it; nothing was saved. Load "
            "the thread again (`get_state`) and retry, and run each thread from one place at a time"
        )
        self.thread_id = thread_id
        self.expected = expected
        self.head = head


class UnsaveableValueError(AgentflowError, ValueError):
    """A checkpointer refused a value when saving it, so that nothing is saved that would not
    load back as it is (or that is over a store's size limit); nothing was saved.

    `path` names the value where the store knows it, e.g. `messages[3].metadata.a.b`.
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


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


class UnknownFieldError(AgentflowError, ValueError):
    """An input or edit names a key that is neither a schema field nor already in the state."""
