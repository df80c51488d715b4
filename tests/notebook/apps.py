"""Graphs the notebook tests debug: small, deterministic, with every kind of field an editor has."""

from __future__ import annotations

import threading
import time
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from agentflow_nb import END, START, AgentState, Message, StateGraph


class Address(BaseModel):
    city: str = "Lyon"
    zip: str = "69001"


class Approval(AgentState):
    amount: int = Field(0, ge=0)
    rate: float = 1.0
    approved: bool = False
    note: str = ""
    priority: Literal["low", "high"] = "low"
    tags: list[str] = []
    extra: dict[str, int] = {}
    address: Address = Address()
    reviewer: str | None = None
    limit: int | None = None


def approval_app(slow: float = 0.0, gate: threading.Event | None = None, **compile_kwargs):
    """ANALYZE -> EXECUTE -> FINALIZE; EXECUTE sleeps `slow` s or waits for `gate`."""
    graph = StateGraph(Approval)

    def analyze(state):
        return {"note": f"analyzed {state.amount}", "tags": [*state.tags, "seen"]}

    def execute(state):
        if gate is not None:
            assert gate.wait(60), "the test never opened the gate"
        time.sleep(slow)
        return f"executed={state.approved} amount={state.amount} tags={state.tags}"

    graph.add_node("ANALYZE", analyze)
    graph.add_node("EXECUTE", execute)
    graph.add_node("FINALIZE", lambda s: "finalized")
    graph.add_edge(START, "ANALYZE").add_edge("ANALYZE", "EXECUTE")
    graph.add_edge("EXECUTE", "FINALIZE").add_edge("FINALIZE", END)
    compile_kwargs.setdefault("interrupt_before", ["EXECUTE"])
    return graph.compile(**compile_kwargs)


def first_input(amount: int = 50) -> dict:
    return {"amount": amount, "messages": [Message.text_message("go")]}


class Bounded(AgentState):
    low: int = 0
    high: int = 10

    @model_validator(mode="after")
    def ordered(self):
        if self.low > self.high:
            raise ValueError("low must not exceed high")
        return self


def bounded_app():
    """One node, paused before it: for an edit only the whole schema can refuse."""
    graph = StateGraph(Bounded)
    graph.add_node("USE", lambda s: None)
    graph.add_edge(START, "USE").add_edge("USE", END)
    return graph.compile(interrupt_before=["USE"])


class Needs(AgentState):
    customer: str


def needs_app():
    graph = StateGraph(Needs)
    graph.add_node("GREET", lambda s: f"hello {s.customer}")
    graph.add_edge(START, "GREET").add_edge("GREET", END)
    return graph.compile()


def wait_for(predicate, timeout: float = 30.0, what: str = "the expected state"):
    """Poll `predicate` until true (a generous deadline, never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)
