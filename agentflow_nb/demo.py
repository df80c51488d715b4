"""Terminal demo: an approval workflow that pauses for a human, then resumes.

Run it with `make demo-terminal` or `python -m agentflow_nb.demo`. At a terminal it asks you to approve;
without one (CI, a pipe) it approves by itself and says so.
"""

from __future__ import annotations

import sys

from agentflow_nb import (
    END,
    START,
    AgentState,
    ConsolePublisher,
    InMemoryCheckpointer,
    Message,
    StateGraph,
)

__all__ = ["build_refund_agent", "main"]


class Refund(AgentState):
    """A refund request: the amount and whether a human approved it."""

    amount: float = 0.0
    approved: bool = False
    risk: str = "unknown"


def assess(state: Refund) -> dict:
    """Stand-in for an LLM: rate the risk from the amount."""
    risk = "high" if state.amount >= 500 else "low"
    note = Message.text_message(f"Risk is {risk} for ${state.amount:.2f}", role="assistant")
    return {"risk": risk, "messages": [note]}


def pay(state: Refund) -> str:
    """Pay out only what a human approved."""
    if not state.approved:
        return "Refund declined: no human approval."
    return f"Refunded ${state.amount:.2f}."


def build_refund_agent():
    """ASSESS -> PAY, pausing before PAY so a human can approve."""
    graph = StateGraph(Refund)
    graph.add_node("ASSESS", assess)
    graph.add_node("PAY", pay)
    graph.add_edge(START, "ASSESS").add_edge("ASSESS", "PAY").add_edge("PAY", END)
    return graph.compile(
        checkpointer=InMemoryCheckpointer(),
        interrupt_before=["PAY"],
        publisher=ConsolePublisher(),
    )


def ask(question: str) -> str:
    """Ask at a terminal; answer "yes" when there is none."""
    if sys.stdin is None or not sys.stdin.isatty():
        print(f"{question} yes   (no terminal: approving automatically)")
        return "yes"
    return input(f"{question} ").strip().lower()


def main() -> int:
    """Run the demo; returns the exit code."""
    app = build_refund_agent()
    config = {"thread_id": "refund-42"}
    print("== 1. A customer asks for a refund; the agent assesses it and pauses before paying.")
    result = app.invoke(
        {"amount": 640.0, "messages": [Message.text_message("Please refund order 42")]}, config=config
    )
    print(f"\n   interrupted={result['interrupted']}  reason={result['interrupt_reason']!r}")
    print(f"   state: amount={result['state'].amount} risk={result['state'].risk}")

    print("\n== 2. A human decides; the decision is saved as an edit of the paused thread.")
    approved = ask("   Approve this refund? (yes/no)") in ("y", "yes")
    app.update_state(config, {"approved": approved})

    print("\n== 3. Resume the same thread: it continues at PAY.")
    final = app.invoke({"messages": [Message.text_message("Decision recorded")]}, config=config)
    print(f"\n   status={final['status'].value}  last message: {final['messages'][-1].content}")

    print("\n== 4. Every step was checkpointed (newest first):")
    for checkpoint in app.get_state_history(config):
        where = checkpoint.node or "-"
        print(f"   step {checkpoint.step}  {where:7} {checkpoint.status.value:20} {checkpoint.source}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
