"""Buttons, the status line, the event log and the history list of the debugger."""

from __future__ import annotations

import json
from collections.abc import Callable
from html import escape
from typing import Any

import ipywidgets as widgets

from agentflow_nb.checkpointer.base import Checkpoint

__all__ = ["Controls", "EventLog", "HistoryView"]

_COLORS = {"running": "#ef6c00", "paused": "#f9a825", "completed": "#2e7d32", "stopped": "#4527a0",
           "error": "#c62828", "idle": "#78909c"}
_WHERE = {"before": "before", "after": "after", "running": "in", "done": "after", "stopped": "after",
          "error": "in"}


class Controls(widgets.VBox):
    """Resume / Step / Stop and a status line. Buttons are enabled only when they make sense."""

    def __init__(self, **kwargs: Any) -> None:
        self.resume = widgets.Button(description="Resume", icon="play", button_style="success",
                                     tooltip="Run to the next breakpoint")
        self.step = widgets.Button(description="Step", icon="step-forward", button_style="info",
                                   tooltip="Run one node, then pause")
        self.stop = widgets.Button(description="Stop", icon="stop", button_style="danger",
                                   tooltip="Stop at the next node boundary")
        self.status = widgets.HTML()
        super().__init__([widgets.HBox([self.resume, self.step, self.stop]), self.status], **kwargs)
        self.add_class("af_controls")

    def show(self, *, thread: str, status: str, step: int | None, node: str | None,
             phase: str | None, elapsed: float, detail: str = "") -> None:
        """Update the status line and which buttons are enabled."""
        running = status == "running"
        self.resume.disabled = running or status == "completed"
        self.step.disabled = running or status == "completed"
        self.stop.disabled = not running
        where = f" {_WHERE.get(phase, phase)} <b>{escape(node)}</b>" if node and phase else ""
        busy = ' <span class="af_busy" style="color:#ef6c00">● busy</span>' if running else ""
        tail = f" — {escape(detail)}" if detail else ""
        badge = (f'<span style="background:{_COLORS.get(status, "#78909c")};color:white;border-radius:3px;'
                 f'padding:0 5px">{escape(status)}</span>')
        self.status.value = (
            f'<div class="af_status" data-status="{status}" style="font:13px Helvetica,sans-serif">'
            f"{badge}{where} · thread <code>{escape(thread)}</code> · step {step if step is not None else '-'}"
            f" · {elapsed:.1f}s{busy}{tail}</div>"
        )


class EventLog(widgets.HTML):
    """The run's events, newest last."""

    def show(self, lines: list[str], keep: int = 200) -> None:
        """Show the last `keep` lines."""
        text = escape("\n".join(lines[-keep:]))
        self.value = (
            '<pre class="af_log" style="max-height:180px;overflow:auto;font-size:11px;margin:0">'
            f"{text}</pre>"
        )


class HistoryView(widgets.VBox):
    """The thread's checkpoints: pick one to see its state and place; fork from it."""

    def __init__(self, **kwargs: Any) -> None:
        self.picker = widgets.Select(options=[], rows=8, layout=widgets.Layout(width="100%"))
        self.preview = widgets.HTML()
        self.fork = widgets.Button(description="Fork from here", icon="code-fork", disabled=True)
        self.live = widgets.Button(description="Back to live", icon="undo", disabled=True)
        super().__init__([self.picker, widgets.HBox([self.fork, self.live]), self.preview], **kwargs)
        self._checkpoints: dict[str, Checkpoint] = {}
        self._handlers: list[Callable[[Checkpoint | None], None]] = []
        self._quiet = False
        self.picker.observe(self._picked, "value")

    def show(self, history: list[Checkpoint]) -> None:
        """List checkpoints, newest first."""
        self._checkpoints = {c.checkpoint_id: c for c in history}
        options = [(_label(c), c.checkpoint_id) for c in history]
        self._quiet = True
        try:
            self.picker.options = options
            self.picker.value = None
        finally:
            self._quiet = False
        self.fork.disabled = self.live.disabled = True
        self.preview.value = ""

    def on_pick(self, callback: Callable[[Checkpoint | None], None], remove: bool = False) -> None:
        """Call `callback(checkpoint)` when one is picked (None: back to live)."""
        if remove:
            self._handlers.remove(callback)
        else:
            self._handlers.append(callback)

    def pick(self, checkpoint_id: str | None) -> None:
        """Pick a checkpoint from code, as a click would."""
        self.picker.value = checkpoint_id

    @property
    def picked(self) -> Checkpoint | None:
        """The checkpoint picked, if any."""
        return self._checkpoints.get(self.picker.value or "")

    def _picked(self, _: Any) -> None:
        if self._quiet:
            return
        checkpoint = self.picked
        self.fork.disabled = self.live.disabled = checkpoint is None
        if checkpoint is not None:
            data = checkpoint.state.model_dump(mode="json", exclude={"execution_meta"})
            data["messages"] = [f"{m['role']}: {m['content']}" for m in data["messages"]][-10:]
            self.preview.value = (
                f"<pre style='font-size:11px;max-height:220px;overflow:auto'>"
                f"{escape(json.dumps(data, indent=1, default=str))}</pre>"
            )
        for callback in list(self._handlers):
            callback(checkpoint)


def _label(checkpoint: Checkpoint) -> str:
    return (f"step {checkpoint.step} · {checkpoint.node or 'START'} · {checkpoint.status.value}"
            f" · {checkpoint.source}")
