"""`FileCheckpointer` and damage: a torn last line is a crash and is cut; anything else is an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentflow_nb import END, START, AgentState, CheckpointWarning, FileCheckpointer, Message, StateGraph

MIB = 1 << 20


class Notes(AgentState):
    count: int = 0


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def big_message_app(folder: Path, size: int):
    """Each step adds a message of `size` characters, so each line is larger than `size` bytes."""
    graph = StateGraph(Notes)
    graph.add_node("WRITE", lambda s: {"count": s.count + 1, "messages": [Message.text_message("x" * size)]})
    graph.add_edge(START, "WRITE")
    graph.add_conditional_edges("WRITE", lambda s: END if s.count >= 3 else "WRITE")
    return graph.compile(checkpointer=FileCheckpointer(folder))


def test_a_torn_last_line_longer_than_a_mebibyte_cuts_only_that_line(tmp_path):
    app = big_message_app(tmp_path, 3 * MIB)
    config = {"thread_id": "t"}
    app.invoke({"count": 0}, config=config)
    path = tmp_path / "t.jsonl"
    good = lines(path)
    assert len(good[-1]) > 2 * MIB
    torn = good[-1][: len(good[-1]) - MIB // 2]  # the crash hit 3 MiB into a 3.5 MiB line
    path.write_bytes(b"".join(good[:-1]) + torn)
    with pytest.warns(CheckpointWarning, match="torn"):
        resumed = app.invoke({}, config=config)
    assert resumed["state"].count == 3 and len(resumed["messages"]) == 3
    assert lines(path)[: len(good) - 1] == good[:-1]  # every complete line kept
    assert path.read_bytes().endswith(b"\n")
