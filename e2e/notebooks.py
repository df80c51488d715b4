"""Notebooks only the browser tests use (written into each test's folder): big graphs, and a
support-triage graph with every kind of field, a router, a retry loop and a slow node."""

from __future__ import annotations

PIPELINE = [
    """from agentflow_nb import END, START, AgentState, StateGraph
from agentflow_nb.notebook import debug

class Doc(AgentState):
    done: int = 0

names = [f"STEP_{i:02d}" for i in range(50)]
names[20] = "NORMALISE_CUSTOMER_ADDRESSES_AND_PHONE_NUMBERS"
graph = StateGraph(Doc)
for name in names:
    graph.add_node(name, lambda state: {"done": state.done + 1})
for a, b in zip([START, *names], [*names, END]):
    graph.add_edge(a, b)
app = graph.compile(interrupt_before=["STEP_37"])""",
    """ui = debug(app, {"messages": []}, config={"thread_id": "pipeline", "recursion_limit": 100})
ui""",
]

FANOUT = [
    """from agentflow_nb import END, START, AgentState, StateGraph
from agentflow_nb.notebook import debug

class Job(AgentState):
    pick: str = "WORKER_17"

workers = [f"WORKER_{i:02d}" for i in range(30)]
graph = StateGraph(Job)
graph.add_node("SPLIT", lambda state: None)
graph.add_node("JOIN", lambda state: None)
for name in workers:
    graph.add_node(name, lambda state: None)
    graph.add_edge(name, "JOIN")
graph.add_edge(START, "SPLIT").add_edge("JOIN", END)
graph.add_conditional_edges("SPLIT", lambda state: state.pick, {w: w for w in workers})
app = graph.compile(interrupt_before=["WORKER_17"])""",
    """ui = debug(app, {"messages": []}, config={"thread_id": "fanout"})
ui""",
]

TRIAGE = [
    """from typing import Literal
from pydantic import BaseModel, Field, model_validator
from agentflow_nb import END, START, AgentState, Message, StateGraph
from agentflow_nb.notebook import debug

class Ticket(BaseModel):
    subject: str
    body: str

class Triage(AgentState):
    ticket: Ticket = Ticket(subject="", body="")
    category: Literal["billing", "tech", "other"] = "other"
    priority: int = Field(1, ge=1, le=5)
    tags: list[str] = []
    scores: dict[str, float] = {}
    assignee: str | None = None
    attempts: int = 0
    draft: str = ""
    escalation: int | None = None

    @model_validator(mode="after")
    def urgent_needs_someone(self):
        if self.priority == 5 and self.assignee is None:
            raise ValueError("priority 5 needs an assignee")
        return self

def classify(state):
    billing = "refund" in state.ticket.body
    return {"category": "billing" if billing else "tech", "tags": [*state.tags, "classified"],
            "scores": {"billing": 0.9 if billing else 0.1}}

def route(state):
    return "LOOKUP_CUSTOMER_ACCOUNT_HISTORY" if state.category == "billing" else "ESCALATE"

def lookup(state):
    return {"tags": [*state.tags, "history: 3 orders"]}

def draft(state):
    return {"draft": f"Hello, about '{state.ticket.subject}': a refund is on its way.",
            "attempts": state.attempts + 1}

def review(state):
    return "DRAFT_REPLY" if state.attempts < 2 else "SEND"

graph = StateGraph(Triage)
graph.add_node("CLASSIFY", classify)
graph.add_node("LOOKUP_CUSTOMER_ACCOUNT_HISTORY", lookup)
graph.add_node("ESCALATE", lambda state: {"assignee": "tier-2"})
graph.add_node("DRAFT_REPLY", draft)
graph.add_node("REVIEW", lambda state: None)
graph.add_node("SEND", lambda state: Message.text_message(state.draft, role="assistant"))
graph.add_edge(START, "CLASSIFY")
graph.add_conditional_edges("CLASSIFY", route, {"LOOKUP_CUSTOMER_ACCOUNT_HISTORY": "LOOKUP_CUSTOMER_ACCOUNT_HISTORY",
                                                "ESCALATE": "ESCALATE"})
graph.add_edge("LOOKUP_CUSTOMER_ACCOUNT_HISTORY", "DRAFT_REPLY").add_edge("ESCALATE", END)
graph.add_edge("DRAFT_REPLY", "REVIEW")
graph.add_conditional_edges("REVIEW", review, {"DRAFT_REPLY": "DRAFT_REPLY", "SEND": "SEND"})
graph.add_edge("SEND", END)
app = graph.compile(interrupt_before=["SEND"])""",
    """ui = debug(app, {"ticket": {"subject": "Order 1042", "body": "I want a refund"}, "priority": 3,
                "messages": [Message.text_message("I want a refund for order 1042")]},
           config={"thread_id": "ticket-1042"})
ui""",
]

SLOW = [
    """import threading
from pathlib import Path
from agentflow_nb import END, START, AgentState, StateGraph
from agentflow_nb.notebook import debug

class Job(AgentState):
    done: int = 0

def slow(state):
    # works until the test creates the file `release` next to the notebook
    tick = threading.Event()
    for _ in range(2400):
        if Path("release").exists():
            break
        tick.wait(0.05)
    return {"done": state.done + 1}

graph = StateGraph(Job)
graph.add_node("PREPARE", lambda state: None)
graph.add_node("SLOW_WORK", slow)
graph.add_node("FINISH", lambda state: None)
graph.add_edge(START, "PREPARE").add_edge("PREPARE", "SLOW_WORK").add_edge("SLOW_WORK", "FINISH")
graph.add_edge("FINISH", END)
app = graph.compile(interrupt_after=["PREPARE"])""",
    """ui = debug(app, {"messages": []}, config={"thread_id": "slow"})
ui""",
]

#: file name -> code cells
EXTRA = {"pipeline.ipynb": PIPELINE, "fanout.ipynb": FANOUT, "triage.ipynb": TRIAGE, "slow.ipynb": SLOW}
