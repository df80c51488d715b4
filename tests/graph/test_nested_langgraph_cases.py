"""The subgraph failures LangGraph users report, each as a case that must work here.

- state of a subgraph unreachable after an interrupt inside it (langchain-ai/langgraph#1144),
- `update_state` on a subgraph then resume (langchain-ai/langgraph#4523,
  langchain-ai/langgraphjs#1552),
- a resume that restarts the subgraph instead of going on at its breakpoint
  (langchain-ai/langgraph#4796), or never reaches its second breakpoint (langchain-ai/langgraph#6444),
- a breakpoint on a node inside a subgraph, set from the parent (langchain-ai/langgraph-studio#197).
"""

from __future__ import annotations

from agentflow_nb import END, START, AgentState, ExecutionStatus, FileCheckpointer, Message, StateGraph

S = ExecutionStatus
T = {"thread_id": "support-1"}


class Ticket(AgentState):
    problem: str = ""
    human_response: str | None = None
    resolution: str = ""


def support_agent(calls, tmp_path=None, **sub_compile):
    """A supervisor whose TRIAGE sub-agent asks a human, then proposes, then confirms."""
    def log(name, result=None):
        def node(state):
            calls.append(name)
            return result(state) if callable(result) else result
        return node

    triage = StateGraph(Ticket)
    triage.add_node("DESCRIBE", log("DESCRIBE", lambda s: Message.text_message("Please describe your problem",
                                                                                role="assistant")))
    triage.add_node("ASK_HUMAN", log("ASK_HUMAN", lambda s: {"problem": s.human_response or "(no answer)"}))
    triage.add_node("PROPOSE", log("PROPOSE", lambda s: {"resolution": f"fix for {s.problem}"}))
    triage.add_node("CONFIRM", log("CONFIRM", lambda s: Message.text_message(
        f"confirmed: {s.resolution} ({s.human_response})", role="assistant")))
    triage.add_edge(START, "DESCRIBE").add_edge("DESCRIBE", "ASK_HUMAN").add_edge("ASK_HUMAN", "PROPOSE")
    triage.add_edge("PROPOSE", "CONFIRM").add_edge("CONFIRM", END)
    graph = StateGraph(Ticket)
    graph.add_node("GREET", log("GREET"))
    graph.add_node("TRIAGE", triage.compile(**sub_compile))
    graph.add_node("CLOSE", log("CLOSE", lambda s: {"resolution": s.resolution + " (closed)"}))
    saver = FileCheckpointer(tmp_path) if tmp_path else None
    return graph.compile(checkpointer=saver)


def test_state_after_a_subgraph_interrupt_is_reachable_even_from_a_new_process(tmp_path):
    calls = []
    app = support_agent(calls, tmp_path, interrupt_before=["ASK_HUMAN"])
    paused = app.invoke({"messages": [Message.text_message("help")]}, config=T)
    assert paused["interrupted"] and paused["current_node"] == "TRIAGE/ASK_HUMAN"
    later = support_agent(calls, tmp_path, interrupt_before=["ASK_HUMAN"])  # as a new process would
    cp = later.get_state(T)
    assert cp.node == "TRIAGE/ASK_HUMAN" and cp.state_at("TRIAGE").human_response is None
    assert [m.content for m in cp.state_at("TRIAGE").messages] == ["help", "Please describe your problem"]
    assert [m.content for m in cp.state.messages] == ["help", "Please describe your problem"]


def test_edit_the_subgraphs_state_then_resume_uses_the_edit():
    calls = []
    app = support_agent(calls, interrupt_before=["ASK_HUMAN", "CONFIRM"])
    app.invoke({"messages": [Message.text_message("help")]}, config=T)
    app.update_state(T, {"human_response": "printer jams"}, subgraph="TRIAGE")
    second = app.invoke({}, config=T)  # goes on to the subgraph's second breakpoint
    assert second["current_node"] == "TRIAGE/CONFIRM" and second["interrupted"]
    assert app.get_state(T).state_at("TRIAGE").resolution == "fix for printer jams"
    app.update_state(T, {"resolution": "replace the roller"}, subgraph="TRIAGE")
    done = app.invoke({}, config=T)
    assert done["status"] is S.COMPLETED
    assert done["state"].resolution == "replace the roller (closed)"
    assert done["messages"][-1].content == "confirmed: replace the roller (printer jams)"


def test_resume_goes_on_inside_the_subgraph_and_never_restarts_it():
    calls = []
    app = support_agent(calls, interrupt_before=["ASK_HUMAN"])
    app.invoke({"messages": [Message.text_message("help")]}, config=T)
    assert calls == ["GREET", "DESCRIBE"]
    done = app.invoke({"human_response": "screen is black"}, config=T)  # the answer, given on resume
    assert calls == ["GREET", "DESCRIBE", "ASK_HUMAN", "PROPOSE", "CONFIRM", "CLOSE"]  # each exactly once
    assert done["state"].problem == "screen is black"
    assert [m.content for m in done["messages"]].count("Please describe your problem") == 1


def test_a_breakpoint_inside_a_subgraph_set_from_the_parent():
    calls = []
    app = support_agent(calls)  # the sub-agent itself has no breakpoints
    config = {**T, "interrupt_before": ["TRIAGE/PROPOSE"], "interrupt_after": ["TRIAGE/CONFIRM"]}
    first = app.invoke({"messages": [Message.text_message("help")]}, config=config)
    assert (first["status"], first["current_node"]) == (S.INTERRUPTED_BEFORE, "TRIAGE/PROPOSE")
    second = app.invoke({}, config=config)
    assert (second["status"], second["current_node"]) == (S.INTERRUPTED_AFTER, "TRIAGE/CONFIRM")
    assert app.invoke({}, config=config)["status"] is S.COMPLETED
    assert calls == ["GREET", "DESCRIBE", "ASK_HUMAN", "PROPOSE", "CONFIRM", "CLOSE"]
