"""Graph state: messages, execution metadata and the `AgentState` model.

Example:
    >>> from agentflow_nb.state import AgentState, Message
    >>> state = AgentState(messages=[Message.text_message("hi")])
    >>> state.messages[-1].text()
    'hi'
"""

from __future__ import annotations

import time
import uuid
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AgentState", "ExecutionMeta", "ExecutionStatus", "Message"]


class ExecutionStatus(str, Enum):
    """Where a thread's run stands."""

    RUNNING = "running"
    INTERRUPTED_BEFORE = "interrupted_before"
    INTERRUPTED_AFTER = "interrupted_after"
    COMPLETED = "completed"
    ERROR = "error"
    STOPPED = "stopped"

    def __str__(self) -> str:
        return self.value


#: Statuses from which invoking the thread again continues the run.
RESUMABLE = frozenset(
    {ExecutionStatus.INTERRUPTED_BEFORE, ExecutionStatus.INTERRUPTED_AFTER, ExecutionStatus.STOPPED}
)


class Message(BaseModel):
    """One chat message. Messages are immutable once made: edit by adding a new one.

    Example:
        >>> Message.text_message("Approved", role="user").content
        'Approved'
    """

    # NaN and infinities are written as JSON's usual extension (as Python's json does), so they load back
    model_config = ConfigDict(frozen=True, ser_json_inf_nan="constants")

    message_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    role: Literal["user", "assistant", "system", "tool"] = "user"
    content: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
    timestamp: float = Field(default_factory=time.time)

    @classmethod
    def text_message(cls, text: str, role: str = "user", **metadata: Any) -> Message:
        """Make a text message; `role` is one of user, assistant, system, tool."""
        return cls(role=role, content=text, metadata=metadata)  # type: ignore[arg-type]

    def text(self) -> str:
        """The message's text."""
        return self.content


class ExecutionMeta(BaseModel):
    """The engine's bookkeeping for a thread, saved with every checkpoint.

    `next_node` is the node the engine runs first when the thread is invoked again, when that
    is already decided (a pause before a node, a stop, an error, or a `Command(goto=...)`);
    otherwise the engine routes on from `current_node`. Positions are node paths: a node inside
    the subgraph node `WRITER` is `"WRITER/REVIEW"` (`current_path` splits it).
    """

    model_config = ConfigDict(validate_assignment=True, ser_json_inf_nan="constants")

    status: ExecutionStatus = ExecutionStatus.RUNNING
    current_node: str | None = None
    next_node: str | None = None
    step: int = 0
    interrupted_node: str | None = None
    interrupt_reason: str | None = None
    interrupt_data: dict[str, Any] | None = None
    thread_id: str | None = None
    error: str | None = None

    @property
    def current_path(self) -> tuple[str, ...]:
        """`current_node` as its parts: `("WRITER", "REVIEW")` inside subgraph `WRITER`."""
        return tuple(self.current_node.split("/")) if self.current_node else ()

    def is_interrupted(self) -> bool:
        """True while the thread is paused and resumable (before, after, or stopped)."""
        return self.status in RESUMABLE

    def set_interrupt(
        self,
        node: str,
        reason: str,
        status: ExecutionStatus = ExecutionStatus.INTERRUPTED_BEFORE,
        data: dict[str, Any] | None = None,
    ) -> None:
        """Ask the engine to pause at `node` once the current node returns.

        Raises:
            ValueError: `status` is not one of the two interrupted statuses.
        """
        status = ExecutionStatus(status)
        if status not in (ExecutionStatus.INTERRUPTED_BEFORE, ExecutionStatus.INTERRUPTED_AFTER):
            raise ValueError(
                f"set_interrupt takes status `INTERRUPTED_BEFORE` or `INTERRUPTED_AFTER`, "
                f"not `{status.name}`"
            )
        self.status = status
        self.interrupted_node = node
        self.interrupt_reason = reason
        self.interrupt_data = dict(data) if data else None

    def clear_interrupt(self) -> None:
        """Forget a pause; the status goes back to `RUNNING`."""
        self.status = ExecutionStatus.RUNNING
        self.interrupted_node = None
        self.interrupt_reason = None
        self.interrupt_data = None


_BLANK_META = ExecutionMeta()  # never changed: only copied


def _blank_meta() -> ExecutionMeta:
    """A new thread's metadata, equal to `ExecutionMeta()`: a copy of one made once (every new
    state makes one; validating the defaults again each time costs several times this)."""
    meta = object.__new__(ExecutionMeta)
    meta.__dict__.update(_BLANK_META.__dict__)  # immutable values only
    _set_fields_set(meta, set())
    _set_extra(meta, None)
    _set_private(meta, None)
    return meta


# pydantic's own slots, set the way `model_copy` sets them (also by `graph.updates`' direct copies)
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


class AgentState(BaseModel):
    """The state a graph passes from node to node.

    Subclass it to add typed fields; unknown keys are kept as extra fields. Assignments are
    validated, so a node that writes a bad value fails at that line.

    Example:
        >>> class Ticket(AgentState):
        ...     approved: bool = False
        >>> Ticket(approved=True).approved
        True
    """

    model_config = ConfigDict(extra="allow", validate_assignment=True, ser_json_inf_nan="constants")

    messages: list[Message] = Field(default_factory=list)
    execution_meta: ExecutionMeta = Field(default_factory=_blank_meta)

    def set_interrupt(
        self,
        node: str,
        reason: str,
        status: ExecutionStatus = ExecutionStatus.INTERRUPTED_BEFORE,
        data: dict[str, Any] | None = None,
    ) -> None:
        """Pause the run at `node` when the running node returns; see `ExecutionMeta`."""
        self.execution_meta.set_interrupt(node, reason, status, data)

    def clear_interrupt(self) -> None:
        """Forget a pause requested with `set_interrupt`."""
        self.execution_meta.clear_interrupt()
