"""`SessionStatus`: the one list of states a debug session can be in, and what each allows."""

from __future__ import annotations

from enum import Enum

from agentflow_nb.state import ExecutionStatus

__all__ = ["SessionStatus"]


class SessionStatus(str, Enum):
    """Where a debug session stands; compares equal to its plain string (`"paused"`).

    Each status knows which actions apply and, where one does not, why (shown on hover).
    """

    NEW = "new"  #: nothing saved under the thread yet
    RUNNING = "running"  #: this session runs the thread
    STOPPING = "stopping"  #: a stop was asked; the node in flight is finishing
    PAUSED = "paused"  #: at a breakpoint, a step, or a node's own pause
    STOPPED = "stopped"  #: stopped at a node boundary
    COMPLETED = "completed"  #: the run reached END
    ERROR = "error"  #: a node failed (resuming retries it) or the run could not start
    IDLE = "idle"  #: saved mid-run and nobody runs it (its process ended): resuming goes on
    BUSY = "busy"  #: another process (or other code here) runs the thread: shown live, read-only

    def __str__(self) -> str:
        return self.value

    @classmethod
    def of(cls, status: ExecutionStatus) -> SessionStatus:
        """The session status of a thread saved with `status` that nobody is running."""
        return _SAVED[status]

    @property
    def running(self) -> bool:
        """True while a run holds the thread (here or elsewhere)."""
        return self in (SessionStatus.RUNNING, SessionStatus.STOPPING, SessionStatus.BUSY)

    @property
    def can_resume(self) -> bool:
        """True when Resume / Step / edits apply."""
        return self in _RESUMABLE

    @property
    def can_stop(self) -> bool:
        """True when Stop applies."""
        return self in (SessionStatus.RUNNING, SessionStatus.BUSY)

    def why_not_resume(self, thread: str) -> str:
        """Why Resume does not apply now ("" when it does)."""
        return "" if self.can_resume else _NO_RESUME[self].format(thread=thread)

    @property
    def color(self) -> str:
        """The theme variable (with a fallback) its badge is drawn in."""
        return _COLOR[self]

    @property
    def banner(self) -> str:
        """What the state panel says about the state it shows ("" when it is simply editable)."""
        return _BANNER.get(self, "")

    def why_not_stop(self) -> str:
        """Why Stop does not apply now ("" when it does)."""
        if self.can_stop:
            return ""
        if self is SessionStatus.STOPPING:
            return "already stopping: the node in flight finishes first"
        return "nothing is running"


_SAVED = {
    ExecutionStatus.INTERRUPTED_BEFORE: SessionStatus.PAUSED,
    ExecutionStatus.INTERRUPTED_AFTER: SessionStatus.PAUSED,
    ExecutionStatus.COMPLETED: SessionStatus.COMPLETED,
    ExecutionStatus.STOPPED: SessionStatus.STOPPED,
    ExecutionStatus.ERROR: SessionStatus.ERROR,
    ExecutionStatus.RUNNING: SessionStatus.IDLE,
}
_RESUMABLE = frozenset({SessionStatus.PAUSED, SessionStatus.STOPPED, SessionStatus.ERROR, SessionStatus.IDLE})
_NO_RESUME = {
    SessionStatus.NEW: "thread `{thread}` has nothing saved yet: start a run with input, "
                       "e.g. `debug(app, {{\"messages\": [...]}})`",
    SessionStatus.RUNNING: "thread `{thread}` is running: wait for it to pause, or Stop it",
    SessionStatus.STOPPING: "thread `{thread}` is stopping: the node in flight finishes first",
    SessionStatus.COMPLETED: "thread `{thread}` completed: nothing is left to run; fork an earlier step "
                             "(History) or start a new run with input",
    SessionStatus.BUSY: "thread `{thread}` is running elsewhere (another process, or other code in this "
                        "kernel): it is shown read-only until that run pauses or ends; Stop asks it to stop",
}
_COLOR = {
    SessionStatus.NEW: "var(--jp-ui-font-color2, #616161)", SessionStatus.RUNNING: "var(--jp-brand-color1, #1976d2)",
    SessionStatus.STOPPING: "var(--jp-brand-color1, #1976d2)", SessionStatus.PAUSED: "var(--jp-warn-color1, #f57c00)",
    SessionStatus.STOPPED: "var(--jp-ui-font-color2, #616161)",
    SessionStatus.COMPLETED: "var(--jp-success-color1, #388e3c)",
    SessionStatus.ERROR: "var(--jp-error-color1, #d32f2f)",
    SessionStatus.IDLE: "var(--jp-ui-font-color2, #616161)", SessionStatus.BUSY: "var(--jp-warn-color1, #f57c00)",
}
_BANNER = {
    SessionStatus.NEW: "Nothing saved under this thread yet.",
    SessionStatus.RUNNING: "Running — the state as last saved; read-only until the run pauses.",
    SessionStatus.STOPPING: "Stopping — the node in flight finishes, then the run stops; read-only until then.",
    SessionStatus.BUSY: "Running elsewhere (another process, or other code in this kernel) — shown live and "
                        "read-only; Stop asks that run to stop.",
    SessionStatus.COMPLETED: "Completed — read-only. Pick a step in History to fork from it.",
}
