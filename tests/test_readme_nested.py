"""The README's nested-graph example runs as written and does what its comments say."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_nested_graphs_example_runs_as_written():
    text = README.read_text()
    section = text[text.index("## Nested graphs") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    scope: dict = {}
    exec(compile(code, "README.md (Nested graphs)", "exec"), scope)  # noqa: S102 - our own README
    app, config = scope["app"], scope["config"]
    done = app.get_state(config)
    assert done.status.value == "completed" and done.state.approved
    assert [m.content for m in done.state.messages] == [
        "Write about owls", "review: approved=True", "published: A piece about owls"]
    history = [c.node for c in app.get_state_history(config)]
    assert history.count("WRITER/DRAFT") == 1 and "WRITER/REVIEW" in history
