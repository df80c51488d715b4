"""`%agentflow` in a real IPython shell (globalipapp): every subcommand, help, each mistake."""

from __future__ import annotations

import re
import threading

import pytest
from IPython.core.error import UsageError
from IPython.testing import globalipapp

from agentflow_nb.notebook import Debugger, SessionStatus
from agentflow_nb.notebook.magic import HistoryTable
from tests.notebook.apps import approval_app, wait_for

HTML = re.compile(r"</?(span|div|b|code)\b|style=")


@pytest.fixture(scope="module")
def ip():
    shell = globalipapp.get_ipython()
    shell.run_line_magic("load_ext", "agentflow_nb")
    return shell


@pytest.fixture
def magic(ip):
    ip.user_ns["app"] = approval_app()
    ip.user_ns["payload"] = {"amount": 120, "messages": [{"content": "hi"}]}
    ip.user_ns["not_a_graph"] = 42
    return lambda line: ip.run_line_magic("agentflow", line)


def test_help_explains_every_subcommand(ip):
    doc = ip.find_line_magic("agentflow").__doc__
    for command in ("draw APP", "debug APP", "--input EXPR", "--thread ID", "--before NODE", "--after NODE",
                    "--step", "--if EXPR", "attach THREAD [APP]", "resume", "--to NODE", "step", "stop", "state",
                    "history", "threads", "code"):
        assert command in doc, command


def test_draw(magic):
    drawing = magic("draw app")
    assert drawing._repr_mimebundle_()["image/svg+xml"].startswith("<svg")


def test_debug_then_resume_step_state_history_threads_stop(magic, capsys):
    ui = magic("debug app --input payload --thread magic-1")
    assert isinstance(ui, Debugger) and ui.session.thread_id == "magic-1"
    assert ui.session.wait() == "paused" and ui.graph.current == "EXECUTE"
    assert magic("state").amount == 120
    ui.inspector.editors["approved"].input.value = True
    magic('step --message "looks fine"')
    assert ui.session.wait() == "paused" and ui.graph.phase == "after"
    assert "stepping thread magic-1" in capsys.readouterr().out
    magic("resume")
    assert ui.session.wait() == "completed"
    state = magic("state")
    assert state.approved is True and "looks fine" in [m.content for m in state.messages]
    history = magic("history")
    assert isinstance(history, HistoryTable) and history.rows()[0][2] == "completed"
    assert "<table>" in history._repr_html_() and "completed" in repr(history)
    assert "magic-1" in magic("threads") and "magic-1" in magic("threads app")
    assert magic("stop")["status"] == "not_running"


def test_debug_with_json_input_breakpoints_and_a_condition(magic):
    ui = magic("""debug app --input '{"amount": 5, "messages": []}' --after ANALYZE --if "state.note == 'analyzed 5'" """)
    assert ui.session.wait() == "paused" and (ui.graph.current, ui.graph.phase) == ("ANALYZE", "after")
    ui2 = magic("""debug app --input '{"amount": 6}' --after ANALYZE --if "state.amount > 100" --step""")
    assert ui2.session.wait() == "paused" and ui2.session.position.current == "ANALYZE"  # --step, not --if
    ui2.session.resume()
    assert ui2.session.wait() == "paused" and ui2.session.position.current == "EXECUTE"  # the graph's own break


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("debug ap", "`ap` is not defined; did you mean `app`?"),
        ("debug not_a_graph", "`not_a_graph` is a `int`, not a compiled graph"),
        ("draw", "needs the variable holding your compiled graph"),
        ("debug app --before EXECUT", "names `EXECUT`, which is not a node.*did you mean `EXECUTE`"),
        ("debug app --input '{bad json'", "--input is neither JSON .* nor a Python expression"),
        ("debug app --input '[1, 2]'", "--input must give a dict"),
        ("debug app --if 'state.amount > 1'", "--if needs --before or --after"),
        ("debug app --after ANALYZE --if 'state.amount >'", "--if is not a Python expression"),
        ("launch app", "invalid choice: 'launch'"),
        ("debug app app", "takes one name"),
        ("attach", "needs a thread id"),
        ("attach nope app", "thread `nope` has nothing saved"),
        ("attach nope app --before EXECUTE", "opens a thread as saved"),
    ],
)
def test_mistakes_raise_usage_errors_with_the_fix(magic, line, message):
    with pytest.raises(UsageError, match=message) as caught:
        magic(line)
    assert not HTML.search(str(caught.value))  # plain text, never HTML


def test_resume_and_step_on_a_thread_that_cannot_go_on_say_why_and_change_nothing(magic, ip):
    gate = threading.Event()
    ip.user_ns["slow"] = approval_app(gate=gate, interrupt_before=[])
    ui = magic("debug slow --thread magic-busy")
    wait_for(lambda: (ui.graph.current, ui.graph.phase) == ("EXECUTE", "running"), what="EXECUTE running")
    with pytest.raises(UsageError, match="thread `magic-busy` is running: wait for it to pause, or Stop it") as busy:
        magic("resume")
    assert not HTML.search(str(busy.value))
    gate.set()
    assert ui.session.wait() == SessionStatus.COMPLETED
    saved, events = len(ui.session.history), len(ui.session.events)
    for command in ("resume", "step"):
        with pytest.raises(UsageError, match="completed: nothing is left to run") as done:
            magic(command)
        assert not HTML.search(str(done.value))
    assert (len(ui.session.history), len(ui.session.events)) == (saved, events)  # nothing logged twice


def test_resume_to_a_node(magic, ip):
    ip.user_ns["free"] = approval_app(interrupt_before=[])
    ui = magic("debug free --input payload --thread magic-to --after ANALYZE")
    assert ui.session.wait() == SessionStatus.PAUSED and ui.graph.current == "ANALYZE"
    magic("resume --to FINALIZE")
    assert ui.session.wait() == SessionStatus.PAUSED and (ui.graph.current, ui.graph.phase) == ("FINALIZE", "before")
    with pytest.raises(UsageError, match="did you mean `FINALIZE`"):
        magic("resume --to FINALISE")


def test_attach_opens_a_saved_thread_and_code_puts_the_edits_in_a_new_cell(magic, ip):
    app = ip.user_ns["app"]
    app.invoke({"amount": 7, "messages": []}, config={"thread_id": "saved-7"})
    ui = magic("attach saved-7 app")
    assert isinstance(ui, Debugger) and ui.session.status == SessionStatus.PAUSED and ui.graph.current == "EXECUTE"
    assert ui.inspector.editors["amount"].input.value == "7" and not ui.inspector.readonly
    ui.inspector.editors["amount"].input.value = "8"
    magic("code")
    assert "app.update_state({'thread_id': 'saved-7'}" in ip.rl_next_input and "'amount': 8" in ip.rl_next_input
    again = magic("attach saved-7")  # the app of the last debugger
    assert again.session.app is app and again.session.thread_id == "saved-7"


def test_empty_input_on_a_new_thread_starts_it(magic):
    ui = magic("debug app --input '{}' --thread magic-empty")
    assert ui.session.wait() == SessionStatus.PAUSED and ui.session.state.amount == 0


def test_session_commands_before_any_debug_say_how_to_start(ip):
    from agentflow_nb.notebook.magic import AgentflowMagics

    fresh = AgentflowMagics(shell=ip)
    with pytest.raises(UsageError, match="start one with `%agentflow debug APP`"):
        fresh.agentflow("resume")


def test_an_invalid_edit_through_the_magic_is_a_usage_error_and_nothing_is_saved(magic):
    ui = magic("debug app --input payload")
    ui.session.wait()
    saved = len(ui.session.history)
    ui.inspector.editors["amount"].input.value = "-1"
    with pytest.raises(UsageError, match="Fix the marked fields first; nothing was saved"):
        magic("resume")
    assert len(ui.session.history) == saved


def test_unload(ip):
    ip.run_line_magic("unload_ext", "agentflow_nb")
    assert ip.find_line_magic("agentflow") is None
    ip.run_line_magic("load_ext", "agentflow_nb")
    assert ip.find_line_magic("agentflow") is not None
