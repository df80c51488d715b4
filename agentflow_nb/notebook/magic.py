"""`%agentflow`: a thin magic over `DebugSession` and `Debugger` (`%load_ext agentflow_nb`)."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from agentflow_nb.checkpointer.base import Checkpoint
from agentflow_nb.errors import GraphError, did_you_mean
from agentflow_nb.graph.compiled import CompiledGraph
from agentflow_nb.notebook.debugger import Debugger
from agentflow_nb.notebook.session import DebugSession

__all__ = ["AgentflowMagics", "HistoryTable", "load_ipython_extension", "unload_ipython_extension"]

COMMANDS = ("draw", "debug", "attach", "resume", "step", "stop", "state", "history", "threads", "code")


class HistoryTable:
    """A thread's checkpoints, shown as a table (newest first); `.checkpoints` has them."""

    def __init__(self, checkpoints: list[Checkpoint]) -> None:
        self.checkpoints = checkpoints

    def rows(self) -> list[tuple[int, str, str, str, str]]:
        """(step, node, status, source, checkpoint_id) per checkpoint."""
        return [(c.step, c.node or "-", c.status.value, c.source, c.checkpoint_id) for c in self.checkpoints]

    def __repr__(self) -> str:
        return "\n".join(f"step {s:<4} {n:<20} {st:<20} {src:<5} {cid}" for s, n, st, src, cid in self.rows())

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{h}</th>" for h in ("step", "node", "status", "source", "checkpoint"))
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>" for row in self.rows()
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


@magics_class
class AgentflowMagics(Magics):
    """Holds the current debugger so `resume`, `step`, `stop`, `state`, `history` need no name."""

    debugger: Debugger | None = None

    @magic_arguments()
    @argument("command", choices=COMMANDS, help="what to do (see above)")
    @argument("target", nargs="?", help="the compiled graph's variable (draw, debug, threads), or the thread "
                                        "id (attach)")
    @argument("app", nargs="?", help="attach: the compiled graph's variable")
    @argument("--input", metavar="EXPR", help="input of the run: JSON, or a Python expression")
    @argument("--thread", metavar="ID", help="thread id (debug); default a new one")
    @argument("--before", nargs="+", metavar="NODE", default=[], help="break before these nodes")
    @argument("--after", nargs="+", metavar="NODE", default=[], help="break after these nodes")
    @argument("--step", action="store_true", help="pause after the first node (debug)")
    @argument("--if", dest="condition", metavar="EXPR",
              help="only break (at --before/--after nodes) when EXPR holds; `state` is the state")
    @argument("--message", metavar="TEXT", help="a user message to add on resume/step")
    @argument("--to", metavar="NODE", help="resume: run to NODE (pause before it)")
    @line_magic
    def agentflow(self, line: str) -> Any:
        """Debug agent graphs in the notebook.

        Subcommands:
          %agentflow draw APP          draw the graph (START/END, dashed conditional edges)
          %agentflow debug APP [--input EXPR] [--thread ID] [--before NODE ...]
                    [--after NODE ...] [--step] [--if EXPR]
                                       start a run in the background and show the debugger:
                                       graph, state inspector, Resume / Step / Stop, events,
                                       history. The cell returns at once. --input '{}' on a
                                       new thread starts from the state's defaults.
          %agentflow attach THREAD [APP]
                                       open the debugger on a saved thread, e.g. one a worker
                                       process runs (shown live and read-only until it
                                       pauses); APP defaults to the graph of the last
                                       debugger, or the only compiled graph defined
          %agentflow resume [--message TEXT] [--to NODE]
                                       apply the inspector's edits and run to the next break
                                       (or to NODE)
          %agentflow step [--message TEXT]
                                       same, but pause after one node
          %agentflow stop              stop the running thread at the next node boundary
          %agentflow state             the shown thread's newest state
          %agentflow history           the thread's checkpoints, newest first
          %agentflow threads [APP]     thread ids saved by APP's checkpointer
          %agentflow code              a new cell below with `app.update_state(...)` for the
                                       inspector's edits (or the shown state)

        Each returns the debugger it acts on (`debug`, `attach`) or what it shows; in a cell
        `ui = %agentflow debug app ...` keeps the debugger as `ui`.

        Examples:
          %agentflow debug app --input '{"messages": [{"content": "hi"}]}' --before EXECUTE
          %agentflow debug app --input payload --after REVIEW --if "state.amount > 100"
          %agentflow attach refund-42 app
        """
        try:
            args = parse_argstring(self.agentflow, line)
        except UsageError as exc:
            raise UsageError(f"{exc} — see `%agentflow?`") from None
        for name in ("target", "app", "input", "thread", "condition", "message", "to"):
            setattr(args, name, _unquote(getattr(args, name)))
        args.before = [_unquote(n) for n in args.before]
        args.after = [_unquote(n) for n in args.after]
        if args.command != "attach":
            if args.app is not None:
                raise UsageError(f"`%agentflow {args.command}` takes one name, got `{args.target}` and `{args.app}`")
            args.app = args.target
        handler = getattr(self, f"_{args.command}")
        return handler(args)

    # -- subcommands --------------------------------------------------------------------------

    def _draw(self, args: Any) -> Any:
        return self._app(args).draw()

    def _debug(self, args: Any) -> Debugger:
        app = self._app(args)
        value = self._input(args.input) if args.input is not None else {"messages": []}
        points = self._points(args)
        config = {"thread_id": args.thread} if args.thread else None
        try:
            session = DebugSession(app, value, config=config, before=points["before"],
                                   after=points["after"], step=args.step)
        except (GraphError, TypeError, ValueError) as exc:
            raise UsageError(str(exc)) from None
        self.debugger = Debugger(session, app_name=args.app)
        return self.debugger

    def _attach(self, args: Any) -> Debugger:
        if not args.target:
            raise UsageError("`%agentflow attach` needs a thread id, e.g. `%agentflow attach refund-42 app`")
        if args.before or args.after or args.input is not None or args.step or args.condition:
            raise UsageError("`%agentflow attach` opens a thread as saved: set breakpoints in the debugger, "
                             "or use `%agentflow debug APP --thread ID --input '{}' --before ...` to resume now")
        app, name = self._attach_app(args.app)
        if args.target not in app.threads():
            known = app.threads()
            raise UsageError(f"thread `{args.target}` has nothing saved in `{name}`'s checkpointer"
                             f"{did_you_mean(args.target, known) or '.'} It has {len(known)} thread(s): "
                             "list them with `%agentflow threads " + name + "`")
        session = DebugSession(app, config={"thread_id": args.target}, start=False)
        self.debugger = Debugger(session, app_name=name)
        return self.debugger

    def _attach_app(self, name: str | None) -> tuple[CompiledGraph, str]:
        if name:
            return self._app(_Args(app=name, command="attach")), name
        if self.debugger is not None:
            return self.debugger.session.app, self.debugger.app_name
        graphs = [k for k, v in self._namespace().items() if isinstance(v, CompiledGraph) and not k.startswith("_")]
        if len(graphs) == 1:
            return self._namespace()[graphs[0]], graphs[0]
        raise UsageError("`%agentflow attach THREAD APP` needs the compiled graph's variable: "
                         f"{'several are defined: ' + ', '.join(graphs) if graphs else 'none is defined yet'}")

    def _resume(self, args: Any, step: bool = False) -> None:
        debugger = self._current()
        if args.message:
            debugger.inspector.text.value = args.message
        if not debugger.resume(step=step, to=args.to):
            raise UsageError(debugger.notice or "not resumed")
        target = f" to {args.to}" if args.to else ""
        print(f"{'stepping' if step else 'resumed'} thread {debugger.session.thread_id}{target}")

    def _step(self, args: Any) -> None:
        self._resume(args, step=True)

    def _stop(self, args: Any) -> dict[str, Any]:
        return self._current().stop()

    def _state(self, args: Any) -> Any:
        return self._current().session.state

    def _history(self, args: Any) -> HistoryTable:
        return HistoryTable(self._current().session.history)

    def _threads(self, args: Any) -> list[str]:
        if args.app:
            return self._app(args).threads()
        return self._current().session.app.threads()

    def _code(self, args: Any) -> None:
        debugger = self._current()
        try:
            code = debugger.code()
        except ValueError as exc:
            raise UsageError(f"nothing to copy: {exc}") from None
        if self.shell is not None:
            self.shell.set_next_input(code, replace=False)
        print(f"`update_state` for thread {debugger.session.thread_id} put in a new cell below")

    # -- helpers ------------------------------------------------------------------------------

    def _app(self, args: Any) -> CompiledGraph:
        name = args.app
        if not name:
            raise UsageError(f"`%agentflow {args.command}` needs the variable holding your compiled "
                             f"graph, e.g. `%agentflow {args.command} app`")
        namespace = self._namespace()
        if name not in namespace:
            graphs = [k for k, v in namespace.items() if isinstance(v, CompiledGraph)]
            hint = did_you_mean(name, graphs or [k for k in namespace if not k.startswith("_")])
            raise UsageError(f"`{name}` is not defined{hint or '.'} Compiled graphs here: "
                             f"{', '.join(graphs) or 'none (call graph.compile())'}")
        app = namespace[name]
        if not isinstance(app, CompiledGraph):
            raise UsageError(f"`{name}` is a `{type(app).__name__}`, not a compiled graph; "
                             f"use the result of `graph.compile()`")
        return app

    def _input(self, text: str) -> Any:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as json_error:
            try:
                value = eval(text, self._namespace())  # noqa: S307 - the user's own notebook expression
            except Exception as exc:  # noqa: BLE001 - reported as a usage error
                raise UsageError(
                    f"--input is neither JSON ({json_error.msg} at column {json_error.colno}) nor a "
                    f"Python expression ({type(exc).__name__}: {exc}); e.g. "
                    """--input '{"messages": [{"content": "hi"}]}'"""
                ) from None
        if not isinstance(value, dict):
            raise UsageError(f"--input must give a dict of state fields, got a `{type(value).__name__}`")
        return value

    def _points(self, args: Any) -> dict[str, Any]:
        if args.condition is None:
            return {"before": args.before, "after": args.after}
        if not (args.before or args.after):
            raise UsageError("--if needs --before or --after: it says when those breakpoints fire")
        try:
            code = compile(args.condition, "<%agentflow --if>", "eval")
        except SyntaxError as exc:
            raise UsageError(f"--if is not a Python expression: {exc.msg}") from None
        namespace = self._namespace()

        def condition(state: Any) -> bool:
            return bool(eval(code, namespace, {"state": state}))  # noqa: S307 - the user's expression

        condition.__doc__ = args.condition
        return {"before": dict.fromkeys(args.before, condition), "after": dict.fromkeys(args.after, condition)}

    def _namespace(self) -> dict[str, Any]:
        return self.shell.user_ns if self.shell is not None else {}

    def _current(self) -> Debugger:
        if self.debugger is None:
            raise UsageError("no debug session yet: start one with `%agentflow debug APP`")
        return self.debugger


class _Args:
    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


def _unquote(text: str | None) -> str | None:
    """IPython splits magic lines keeping quotes; drop one matching pair around a value."""
    if text is not None and len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext agentflow_nb`: register `%agentflow`."""
    ipython.register_magics(AgentflowMagics)


def unload_ipython_extension(ipython: Any) -> None:
    """`%unload_ext agentflow_nb`: remove `%agentflow`."""
    ipython.magics_manager.magics["line"].pop("agentflow", None)
