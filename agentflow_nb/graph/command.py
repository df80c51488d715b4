"""`START`, `END` and `Command`: the words nodes and edges use to say where to go."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["END", "START", "Command"]

START = "__start__"
END = "__end__"


@dataclass(frozen=True)
class Command:
    """Returned by a node: apply `update` (anything a node may return) and go to `goto`.

    Example:
        >>> Command(update={"approved": True}, goto="EXECUTE")
        Command(update={'approved': True}, goto='EXECUTE')
    """

    update: Any = None
    goto: str | None = None
