"""A node's dict result is validated exactly as assigning each value to the state would be: the
engine stores a value of a plain field's own type without calling pydantic, and these tests pin
that the outcome (value, type, fields set, error) is the same as `setattr` gives."""

from __future__ import annotations

import enum
import math
from typing import Optional

import pydantic
import pytest
from pydantic import ConfigDict, Field, field_validator, model_validator

from agentflow_nb import NodeError, StateGraph
from agentflow_nb.state import AgentState


class Plain(AgentState):
    count: int = 0
    name: str = ""
    ratio: float = 0.0
    flag: bool = False
    maybe: Optional[int] = None  # noqa: UP045 - the Optional spelling is part of what is tested


class Strict(AgentState):
    model_config = ConfigDict(str_strip_whitespace=True, allow_inf_nan=False, str_max_length=5)

    name: str = ""
    ratio: float = 0.0


class Checked(AgentState):
    count: int = Field(0, ge=0)
    doubled: int = 0
    fixed: int = Field(0, frozen=True)

    @field_validator("doubled")
    @classmethod
    def _double(cls, value: int) -> int:
        return value * 2


class Audited(AgentState):
    count: int = 0
    audit: str = ""

    @model_validator(mode="after")
    def _audit(self) -> Audited:
        self.__dict__["audit"] = f"count={self.count}"
        return self


class Level(enum.IntEnum):
    HIGH = 3


CASES = [
    (Plain, "count", 7), (Plain, "count", True), (Plain, "count", "8"), (Plain, "count", Level.HIGH),
    (Plain, "count", 2.0), (Plain, "count", "lots"), (Plain, "name", "hi"), (Plain, "name", 5),
    (Plain, "ratio", 1.5), (Plain, "ratio", 2), (Plain, "ratio", math.inf), (Plain, "flag", True),
    (Plain, "flag", "yes"), (Plain, "maybe", None), (Plain, "maybe", 4), (Plain, "maybe", "x"),
    (Strict, "name", "  ab  "), (Strict, "name", "far too long"), (Strict, "ratio", math.nan),
    (Strict, "ratio", 0.5), (Checked, "count", -1), (Checked, "count", 3), (Checked, "doubled", 4),
    (Checked, "fixed", 1), (Audited, "count", 5),
]


def _by_setattr(schema: type[AgentState], name: str, value: object) -> AgentState | pydantic.ValidationError:
    state = schema()
    try:
        setattr(state, name, value)
    except pydantic.ValidationError as exc:
        return exc
    return state


def _by_node(schema: type[AgentState], name: str, value: object) -> AgentState | pydantic.ValidationError:
    graph = StateGraph(schema)
    graph.add_node("SET", lambda s: {name: value})
    app = graph.compile()
    try:
        return app.invoke({"messages": []}, config={"thread_id": "t"})["state"]
    except NodeError as exc:
        assert isinstance(exc.__cause__, pydantic.ValidationError), exc
        return exc.__cause__


@pytest.mark.parametrize(("schema", "name", "value"), CASES, ids=lambda v: repr(v)[:20])
def test_a_dict_result_is_validated_as_an_assignment(schema, name, value):
    expected, got = _by_setattr(schema, name, value), _by_node(schema, name, value)
    if isinstance(expected, pydantic.ValidationError):
        assert isinstance(got, pydantic.ValidationError)
        assert got.errors(include_url=False) == expected.errors(include_url=False)
        return
    assert not isinstance(got, pydantic.ValidationError), got
    for field in schema.model_fields:
        if field not in ("messages", "execution_meta"):
            mine, theirs = getattr(got, field), getattr(expected, field)
            assert type(mine) is type(theirs) and (mine == theirs or mine != mine and theirs != theirs), field
    assert name in got.model_fields_set


def test_a_value_of_the_fields_own_type_is_kept_as_the_very_object():
    big = 10**30  # an int object pydantic would keep too
    graph = StateGraph(Plain)
    graph.add_node("SET", lambda s: {"count": big, "name": "text"})
    state = graph.compile().invoke({"messages": []}, config={"thread_id": "t"})["state"]
    assert state.count is big and state.name == "text"
    assert {"count", "name"} <= state.model_fields_set
