"""The debugger's toolbar (Resume / Step / Stop and the status line), event log and history."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from html import escape, unescape
from typing import Any

import ipywidgets as widgets

from agentflow_nb.checkpointer.base import Checkpoint
from agentflow_nb.notebook.events import EventEntry
from agentflow_nb.notebook.status import SessionStatus
from agentflow_nb.notebook.timeline import Entry

__all__ = ["FILTERS", "Controls", "EventLog", "HistoryView"]

St = SessionStatus
_WHERE = {"before": "before", "after": "after", "running": "in", "stopping": "in", "done": "at",
          "stopped": "next:", "error": "in"}


def _seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.1f} s" if value < 60 else f"{int(value // 60)} min {int(value % 60)} s"


class Controls(widgets.VBox):
    """Resume / Step / Stop, the status line, copy-as-code, and a notice line for feedback.

    For a graph with subgraphs, Step is three buttons, as in a debugger: Step over, Step into,
    Step out. Buttons are enabled only when their action applies; when not, hovering says why.
    """

    def __init__(self, nested: bool = False, **kwargs: Any) -> None:
        self.nested = nested
        self.resume = widgets.Button(description="Resume", icon="play", button_style="success")
        self.step = widgets.Button(description="Step over" if nested else "Step", icon="step-forward",
                                   button_style="info")
        self.step_into = widgets.Button(description="Step into", icon="level-down", button_style="info")
        self.step_out = widgets.Button(description="Step out", icon="level-up", button_style="info")
        self.stop = widgets.Button(description="Stop", icon="stop", button_style="danger")
        self.copy = widgets.Button(description="Copy as code", icon="clipboard",
                                   tooltip="Put `app.update_state(...)` for the edits (or the shown state) "
                                           "into a new cell below")
        for button in (self.resume, self.step, self.step_into, self.step_out, self.stop, self.copy):
            button.layout = widgets.Layout(width="auto", flex="0 0 auto")
        stepping = [self.step, self.step_into, self.step_out] if nested else [self.step]
        self.status = widgets.HTML(layout=widgets.Layout(flex="1 1 auto", min_width="0", overflow="hidden"))
        self.notice = widgets.HTML(layout=widgets.Layout(margin="0 0 0 4px"))
        self.notice.add_class("af_notice")
        row = widgets.HBox([self.resume, *stepping, self.stop, self.status, self.copy],
                           layout=widgets.Layout(align_items="center", width="100%"))
        super().__init__([row, self.notice], **kwargs)
        self.add_class("af_toolbar")
        self.add_class("af_controls")

    def show(self, *, thread: str, status: SessionStatus, step: int | None, node: str | None,
             phase: str | None, elapsed: float, node_elapsed: float | None = None, detail: str = "",
             viewing: int | None = None, why_out: str = "") -> None:
        """Update the status line, and which buttons are enabled (with the reason when not);
        `why_out` says why Step out does not apply (not inside a subgraph)."""
        why = status.why_not_resume(thread)
        if viewing is not None and not why:
            why = f"viewing step {viewing}: go back to live (Esc), or Fork from here to go on from it"
        over = ("Run the next node, then pause; a subgraph node runs whole (s / F10)" if self.nested
                else "Run one node, then pause (s / F10)")
        for button, verb, reason in (
            (self.resume, "Run to the next breakpoint (r / F8)", why),
            (self.step, over, why),
            (self.step_into, "Run the next node, going into it if it is a subgraph: pause before its first "
                             "node (i / F11)", why),
            (self.step_out, "Finish the subgraph the run is in, then pause in its parent (o / shift+F11)",
             why or why_out),
        ):
            button.disabled = bool(reason)
            button.tooltip = reason or verb
        self.stop.disabled = not status.can_stop
        self.stop.tooltip = status.why_not_stop() or "Stop at the next node boundary; the node in flight finishes (x)"
        self.status.value = _status_line(thread, status, step, node, phase, elapsed, node_elapsed, detail, viewing)

    def say(self, text: str, error: bool = False) -> None:
        """Show feedback under the buttons ("" clears it)."""
        css = "af_error_text" if error else "af_ok_text"
        self.notice.value = f'<span class="{css}">{escape(text)}</span>' if text else ""


def _status_line(thread: str, status: SessionStatus, step: int | None, node: str | None, phase: str | None,
                 elapsed: float, node_elapsed: float | None, detail: str, viewing: int | None = None) -> str:
    label = {St.BUSY: "running elsewhere"}.get(status, status.value)
    badge = f'<span class="af_badge" style="--af-c: {status.color}">{escape(label)}</span>'
    where = ""
    if node and phase and status is not St.NEW:
        where = f" {_WHERE.get(phase, phase)} <b>{escape(node)}</b>"
    parts = [f"step {step}" if step is not None else "nothing saved yet"]
    if status is St.STOPPING and node_elapsed is not None:
        where = f" — waiting for <b>{escape(node or '?')}</b> to finish ({_seconds(node_elapsed)})"
    elif status is St.RUNNING and node_elapsed is not None:
        parts.append(f'<span title="time in the node running now">{_seconds(node_elapsed)} in node</span>')
    if status in (St.RUNNING, St.STOPPING):
        parts.append(f'<span title="time since this run started or resumed">run {_seconds(elapsed)}</span>')
    elif elapsed:
        parts.append(f'<span title="how long the last run took, from resume to pause or end">'
                     f"last run {_seconds(elapsed)}</span>")
    tail = f' · <span class="af_dim">{escape(detail)}</span>' if detail else ""
    if viewing is not None:  # said early: the line may be cut short on a narrow screen
        where += f' · <b class="af_viewing_note">viewing step {viewing}</b>'

    line = (f'{badge}{where} · <span class="af_dim">thread</span> <code>{escape(thread)}</code> · '
            f'{" · ".join(parts)}{tail}')
    # the whole line on hover: a narrow toolbar (three step buttons) cuts it short with an ellipsis
    full = unescape(re.sub(r"<[^>]*>", "", line))
    return f'<div class="af_status" data-status="{status.value}" title="{escape(full)}">{line}</div>'


#: Filter buttons of the event log and the kinds (`events.KINDS`) each shows.
FILTERS = (("all", None), ("nodes", {"node"}), ("messages", {"message"}), ("pauses & ends", {"pause", "end"}),
            ("edits & control", {"edit", "control"}), ("errors", {"error"}))


class EventLog(widgets.VBox):
    """The run's events, newest at the bottom (the view keeps to the newest); filter by kind."""

    def __init__(self, keep: int = 300, **kwargs: Any) -> None:
        self.keep = keep
        self.filter = widgets.ToggleButtons(options=[name for name, _ in FILTERS], value="all",
                                            tooltips=["every event"] + [f"only {name}" for name, _ in FILTERS[1:]],
                                            style={"button_width": "auto"})
        self.filter.add_class("af_log_filter")
        self.lines = widgets.HTML(layout=widgets.Layout(height="112px", overflow="hidden"))
        self._entries: list[EventEntry] = []
        super().__init__([self.filter, self.lines], **kwargs)
        self.filter.observe(lambda _: self._render(), "value")

    def show(self, entries: list[EventEntry]) -> None:
        """Show the newest `keep` entries that pass the filter."""
        self._entries = entries
        self._render()

    def _render(self) -> None:
        kinds = dict(FILTERS)[self.filter.value]
        shown = [e for e in self._entries if kinds is None or e.kind in kinds][-self.keep :]
        rows = "".join(_row(e) for e in shown)
        # column-reverse keeps the scroll at the bottom: the newest line stays in view
        self.lines.value = f'<div class="af_log"><div>{rows or "<i>no events yet</i>"}</div></div>'


@lru_cache(maxsize=4096)
def _row(entry: EventEntry) -> str:
    """One log line as HTML (entries are immutable, so each is rendered once)."""
    return f'<div class="af_log_{entry.kind}" data-kind="{entry.kind}">{escape(str(entry))}</div>'


class HistoryView(widgets.VBox):
    """The thread's checkpoints: pick one to see it everywhere (graph, state, diff); fork from it.

    A thread switcher lists the original thread and the forks made here.
    """

    def __init__(self, **kwargs: Any) -> None:
        self.threads = widgets.Dropdown(options=[], description="thread", layout=widgets.Layout(width="auto"),
                                        style={"description_width": "44px"})
        self.picker = widgets.Select(options=[], rows=7, layout=widgets.Layout(width="auto"))
        self.picker.add_class("af_history")
        self.fork = widgets.Button(description="Fork from here", icon="code-fork", disabled=True,
                                   tooltip="Pick a step first", layout=widgets.Layout(width="auto"))
        self.live = widgets.Button(description="Back to live", icon="undo", disabled=True,
                                   layout=widgets.Layout(width="auto"))
        super().__init__([self.threads, self.picker, widgets.HBox([self.fork, self.live])], **kwargs)
        self._entries: dict[str, Entry] = {}
        self._handlers: list[Callable[[Checkpoint | None], None]] = []
        self._quiet = False
        self.picker.observe(self._picked, "value")

    def show(self, rows: list[Entry], keep: str | None = None) -> None:
        """List checkpoints, newest first; keep `keep` picked if it is still there."""
        self._entries = {e.checkpoint.checkpoint_id: e for e in rows}
        self._quiet = True
        try:
            self.picker.options = [(e.label, e.checkpoint.checkpoint_id) for e in rows]
            self.picker.value = keep if keep in self._entries else None
        finally:
            self._quiet = False
        self._buttons()

    def show_threads(self, threads: list[str], current: str) -> None:
        """The threads to switch between (hidden when there is only one)."""
        self._quiet = True
        try:
            self.threads.options = threads
            self.threads.value = current
        finally:
            self._quiet = False
        self.threads.layout.display = "" if len(threads) > 1 else "none"

    def on_pick(self, callback: Callable[[Checkpoint | None], None], remove: bool = False) -> None:
        """Call `callback(checkpoint)` when one is picked (None: back to live)."""
        if remove:
            self._handlers.remove(callback)
        else:
            self._handlers.append(callback)

    def pick(self, checkpoint_id: str | None) -> None:
        """Pick a checkpoint from code, as a click would (None: back to live)."""
        self.picker.value = checkpoint_id

    @property
    def picked(self) -> Checkpoint | None:
        """The checkpoint picked, if any."""
        entry = self._entries.get(self.picker.value or "")
        return entry.checkpoint if entry else None

    @property
    def picked_entry(self) -> Entry | None:
        """The picked row, if any."""
        return self._entries.get(self.picker.value or "")

    def _buttons(self) -> None:
        picked = self.picked is not None
        self.fork.disabled = self.live.disabled = not picked
        self.fork.tooltip = "Go on from this step on a new thread" if picked else "Pick a step first"

    def _picked(self, _: Any) -> None:
        if self._quiet:
            return
        self._buttons()
        for callback in list(self._handlers):
            callback(self.picked)
