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

__all__ = ["FRAME_KEY", "RawFrame", "attach_frames", "loaded_frames", "split_packed"]

FRAME_KEY = "/"


class RawFrame(NamedTuple):
    """One subgraph frame as loaded: its fields as JSON text, not yet decoded."""

    path: str  # the subgraph node's path, e.g. "WRITER" or "WRITER/CRITIC"
    fields: dict[str, str]  # field name -> JSON text (neither messages nor execution_meta)
    messages: list[str] | None  # JSON text per message of its own conversation; None: shares its parent's
    changed: tuple[str, ...] | None  # the fields its nodes changed so far (None: any of them)


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
    record is a plain state (the thread was not inside a subgraph)."""
    layout_text = fields.get(FRAME_KEY)
    if layout_text is None:
        return None
    layout = json.loads(layout_text)
    root: dict[str, str] = {}
    by_depth: dict[int, dict[str, str]] = {}
    for key, text in fields.items():
        if not key.startswith(FRAME_KEY):
            root[key] = text
        elif key != FRAME_KEY:
            depth, _, name = key[1:].partition(FRAME_KEY)
            by_depth.setdefault(int(depth), {})[name] = text
    at = layout["n"]
    frames = []
    for depth, item in enumerate(layout["frames"], 1):
        own = item["own"]
        mine = None if own is None else messages[at : at + own]
        at += own or 0
        changed = item["changed"]
        frames.append(RawFrame(item["path"], by_depth.get(depth, {}), mine,
                               None if changed is None else tuple(changed)))
    return root, messages[: layout["n"]], tuple(frames)
