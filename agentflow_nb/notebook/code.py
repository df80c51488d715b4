"""Copy as code: the debugger's edits (or the state it shows) as an `update_state` call."""

from __future__ import annotations

import pprint
from collections.abc import Mapping
from typing import Any

__all__ = ["update_state_code"]


def _literal(value: Any, indent: int) -> str:
    """A Python literal for a JSON-ready value, continuation lines indented."""
    text = pprint.pformat(value, width=max(40, 96 - indent), sort_dicts=False)
    return text.replace("\n", "\n" + " " * indent)


def update_state_code(app_name: str, thread_id: str, values: Mapping[str, Any], note: str = "") -> str:
    """`app.update_state({"thread_id": ...}, {...})` for JSON-ready `values`.

    Example:
        >>> print(update_state_code("app", "t-1", {"amount": 120.0, "approved": True}))
        app.update_state({'thread_id': 't-1'}, {
            'amount': 120.0,
            'approved': True,
        })
    """
    lines = [f"# {note}"] if note else []
    lines.append(f"{app_name}.update_state({{'thread_id': {thread_id!r}}}, {{")
    for name, value in values.items():
        lines.append(f"    {name!r}: {_literal(value, 4 + len(repr(name)) + 2)},")
    lines.append("})")
    return "\n".join(lines)
