"""Reading back a thread that was saved while paused inside subgraphs.

The engine saves such a thread as one state (see `agentflow_nb.graph.frames`): the root state's
fields as they are, a layout under the key `/`, each subgraph frame's fields under
`/<depth>/<name>`, and one message log — the root's conversation, then the conversation of each
frame that keeps its own. To a store these are plain fields and messages, so its deltas cover
frames too. A store cannot know the subgraphs' schemas, so it loads the root state and hands the
frames on still as JSON text (`RawFrame`), riding on the root's metadata; the `CompiledGraph`
that asked for the checkpoint decodes them.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from pydantic import PrivateAttr

from agentflow_nb.state import AgentState, ExecutionMeta

__all__ = [
    "FRAME_KEY",
    "CorruptLayout",
    "Layout",
    "RawFrame",
    "attach_frames",
    "layout_messages",
    "loaded_frames",
    "split_packed",
]

FRAME_KEY = "/"


class RawFrame(NamedTuple):
    """One subgraph frame as loaded: its fields as JSON text, not yet decoded."""

    path: str  # the subgraph node's path, e.g. "WRITER" or "WRITER/CRITIC"
    fields: dict[str, str]  # field name -> JSON text (neither messages nor execution_meta)
    messages: list[str] | None  # JSON text per message of its own conversation; None: shares its parent's
    changed: tuple[str, ...] | None  # the fields its nodes changed so far (None: any of them)


class Layout(dict):  # type: ignore[type-arg]
    """The layout (`/`) of a packed state as the engine makes it: `{"n": <the root's message
    count>, "frames": [{"path", "own", "changed"}, ...]}`, never changed once made. `key`
    says what it holds in hashable form, so that a store checks and writes each distinct
    layout once (`codec.layout_json`) rather than walking it at every step."""

    __slots__ = ("key",)

    def __init__(self, n: int, frames: tuple[tuple[str, int | None, tuple[str, ...] | None], ...]) -> None:
        super().__init__(n=n, frames=[{"path": p, "own": o, "changed": None if c is None else list(c)}
                                      for p, o, c in frames])
        self.key = (n, frames)


class _FramedMeta(ExecutionMeta):
    """The root state's metadata, carrying the frames until the engine decodes them."""

    _frames: tuple[RawFrame, ...] = PrivateAttr(default=())


def loaded_frames(state: AgentState) -> tuple[RawFrame, ...]:
    """The frames a store loaded with `state`, still encoded; `()` for a thread not in a subgraph."""
    meta = state.execution_meta
    return meta._frames if isinstance(meta, _FramedMeta) else ()


def attach_frames(state: AgentState, frames: tuple[RawFrame, ...]) -> AgentState:
    """Put `frames` on a freshly decoded `state` (which nobody else holds yet)."""
    meta = _FramedMeta.model_construct(**state.execution_meta.__dict__)
    meta._frames = frames
    state.__dict__["execution_meta"] = meta
    return state


def split_packed(
    fields: dict[str, str], messages: list[str]
) -> tuple[dict[str, str], list[str], tuple[RawFrame, ...]] | None:
    """Split a packed record into the root's fields and messages and the frames; None when the
    record is a plain state (the thread was not inside a subgraph).

    Raises:
        CorruptLayout: the layout or a frame key is not as the engine writes them. (The message
            count is the store's to check: an item of `messages` may hold several messages.)
    """
    layout_text = fields.get(FRAME_KEY)
    if layout_text is None:
        return None
    n, items = _layout(layout_text)
    root: dict[str, str] = {}
    by_depth: dict[int, dict[str, str]] = {}
    for key, text in fields.items():
        if not key.startswith(FRAME_KEY):
            root[key] = text
        elif key != FRAME_KEY:
            depth, name = _frame_key(key)
            by_depth.setdefault(depth, {})[name] = text
    at = n
    frames = []
    for depth, (path, own, changed) in enumerate(items, 1):
        mine = None if own is None else messages[at : at + own]
        at += own or 0
        frames.append(RawFrame(path, by_depth.get(depth, {}), mine, changed))
    return root, messages[:n], tuple(frames)


def layout_messages(fields: dict[str, str]) -> int | None:
    """How many messages a packed record's layout says it holds (the root's and each frame's
    own); None for a plain state. A store that keeps one item per message checks it against them.

    Raises:
        CorruptLayout: the layout is not as the engine writes it.
    """
    layout_text = fields.get(FRAME_KEY)
    if layout_text is None:
        return None
    n, items = _layout(layout_text)
    return n + sum(own or 0 for _, own, _ in items)


class CorruptLayout(ValueError):
    """A packed record whose layout (`/`) or frame keys (`/<depth>/<name>`) are not as the engine
    writes them: a damaged or forged record. Stores turn it into their own damage error."""


def _layout(text: str) -> tuple[int, list[tuple[str, int | None, tuple[str, ...] | None]]]:
    """The root's message count and each frame's (path, own message count, changed fields)."""
    try:
        layout = json.loads(text)
    except (ValueError, RecursionError):
        raise CorruptLayout(f"its subgraph layout `{FRAME_KEY}` is not valid JSON") from None
    if not isinstance(layout, dict) or set(layout) != {"n", "frames"}:
        raise CorruptLayout(f'its subgraph layout `{FRAME_KEY}` is not an object of `"n"` and `"frames"`')
    n, frames = layout["n"], layout["frames"]
    if not _count(n) or not isinstance(frames, list):
        raise CorruptLayout(f'its subgraph layout `{FRAME_KEY}` needs `"n"` a whole number >= 0 and `"frames"` a list')
    return n, [_frame_item(item, depth) for depth, item in enumerate(frames, 1)]


def _frame_item(item: object, depth: int) -> tuple[str, int | None, tuple[str, ...] | None]:
    if isinstance(item, dict) and set(item) == {"path", "own", "changed"}:
        path, own, changed = item["path"], item["own"], item["changed"]
        if (isinstance(path, str) and path and (own is None or _count(own))
                and (changed is None or (isinstance(changed, list) and all(isinstance(c, str) for c in changed)))):
            return path, own, None if changed is None else tuple(changed)
    raise CorruptLayout(
        f'frame {depth} of its subgraph layout `{FRAME_KEY}` is not `{{"path": <text>, "own": <count or '
        'null>, "changed": <list of names or null>}`'
    )


def _frame_key(key: str) -> tuple[int, str]:
    """`(depth, name)` of a frame field key `/<depth>/<name>`."""
    depth, slash, name = key[1:].partition(FRAME_KEY)
    if not (slash and name and 0 < len(depth) < 7 and depth.isascii() and depth.isdigit() and depth[0] != "0"):
        raise CorruptLayout(f"its field `{key}` is not a subgraph field `{FRAME_KEY}<depth>{FRAME_KEY}<name>`")
    return int(depth), name


def _count(value: object) -> bool:
    return type(value) is int and value >= 0
