"""The JSON codec every store shares: how fields and messages are written and read back.

Writing: `encode_fields` / `encode_messages` / `message_bytes` give JSON text; `freeze_fields`
keeps values in a form nothing can change later (the in-memory store), `thaw` gives its text.
Each refuses a value that would not load back as it is (`values`), so every store that writes
through them keeps the rule "round-trip or refuse, never save what cannot be loaded".
Reading: `decode_state` / `decode_parts` rebuild a state through its schema from JSON text alone
(validation only: nothing named in the data is imported or called).
"""

from __future__ import annotations

import gc
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import Enum
from functools import lru_cache
from typing import Any

from pydantic_core import CoreConfig, PydanticSerializationError, SchemaValidator, to_json

from agentflow_nb.checkpointer.packed import FRAME_KEY, Layout, attach_frames, split_packed
from agentflow_nb.checkpointer.values import check_field, check_message, unserializable
from agentflow_nb.state import AgentState, ExecutionMeta

__all__ = [
    "compact",
    "decode_parts",
    "decode_state",
    "encode_fields",
    "encode_messages",
    "freeze_fields",
    "has_custom_serializers",
    "json_name",
    "message_bytes",
    "prepare",
    "split_messages",
    "thaw",
]

MESSAGES = "messages"
#: JSON text without spaces (`json.dumps(value, separators=(",", ":"))` without making an
#: encoder at each call, as `dumps` does for any argument but the defaults).
compact = json.JSONEncoder(separators=(",", ":")).encode


@lru_cache(maxsize=4096)
def json_name(name: str) -> str:
    """A field name as JSON text (names repeat at every step: each is encoded once)."""
    return json.dumps(name)


#: A message's empty metadata as `to_json` writes it, between its content and its timestamp.
#: It is left out of what is saved: it loads back as `{}` (the field's default), and a message
#: read with four fields given is built with about a quarter less work and memory than with
#: five (pydantic-core keeps a set of the fields given per message, which grows from 8 slots to
#: 32 at the fifth: 728 bytes a message, more than the rest of it).
_EMPTY_METADATA = b',"metadata":{},'


def encode_messages(state: AgentState, start: int = 0) -> list[str]:
    """JSON text of each message from index `start` on (refused if one would not load back);
    empty metadata is left out (see `_EMPTY_METADATA`)."""
    messages = state.messages[start:]
    _check_messages(messages, start)
    return [_message_json(m).decode() for m in messages]


def message_bytes(state: AgentState, start: int = 0) -> bytes:
    """The messages from index `start` on as the contents of a JSON array (comma-separated),
    refused if one would not load back; empty metadata is left out (see `_EMPTY_METADATA`)."""
    messages = state.messages[start:]
    if not messages:
        return b""
    if _check_messages(messages, start):  # no metadata anywhere: each match is a message's own
        return to_json(messages)[1:-1].replace(_EMPTY_METADATA, b",")
    return b",".join([_message_json(m) for m in messages])


def _check_messages(messages: Sequence[Any], start: int) -> bool:
    """Refuse a message that would not load back; True when none of them has metadata."""
    bare = True
    for index, message in enumerate(messages, start):
        check_message(message, index)  # a `Message` exactly: its fields in their order
        if message.metadata:
            bare = False
    return bare


def _message_json(message: Any) -> bytes:
    """One checked message's JSON. The first `,"metadata":{},` is its own when its metadata is
    empty: a string before it cannot hold `,"` (JSON escapes every quote in a string)."""
    text = to_json(message)
    return text if message.metadata else text.replace(_EMPTY_METADATA, b",", 1)


def encode_fields(state: AgentState, names: Iterable[str] | None = None) -> dict[str, str]:
    """JSON text of each named non-message field (all of them when `names` is None).

    Raises:
        UnsaveableValueError: a value would not load back as it is (nothing should be saved).
    """
    schema = type(state)
    if not has_custom_serializers(schema):  # each value serializes as itself: the fast path
        texts = {}
        for name, value in _present(state, names):
            texts[name] = _checked_json(schema, name, value).decode()
        return texts
    present = dict(_present(state, names))
    # a packed thread's frame keys are not the model's fields: their values serialize as themselves
    frames = {name: present.pop(name) for name in list(present) if name.startswith(FRAME_KEY)}
    try:
        dumped = state.model_dump(mode="json", include=set(present)) if present else {}
    except PydanticSerializationError as exc:
        raise unserializable("the state", state, exc) from None
    texts = {name: compact(value) for name, value in dumped.items()}
    for name, text in texts.items():
        check_field(schema, name, present[name], text, custom=True)
    for name, value in frames.items():
        texts[name] = _checked_json(schema, name, value).decode()
    return texts


def freeze_fields(state: AgentState, names: Iterable[str] | None = None) -> dict[str, Any]:
    """Each named non-message field in a form nothing can change later, made as cheaply as
    possible: an immutable value as itself, the engine's metadata as a dict of its (immutable)
    values, anything else as JSON bytes. `thaw` turns each back into JSON text.

    Raises:
        UnsaveableValueError: a value would not load back as it is (nothing should be saved).
    """
    schema = type(state)
    if has_custom_serializers(schema):
        return {name: text.encode() for name, text in encode_fields(state, names).items()}
    frozen = {}
    for name, value in _present(state, names):
        if type(value) is Layout:
            frozen[name] = _layout_json(schema, value)
            continue
        kept = _frozen(name, value)
        check_field(schema, name, value, kept if type(kept) is bytes else None, custom=False)
        frozen[name] = kept
    return frozen


def thaw(frozen: Any) -> str:
    """The JSON text of a value made by `freeze_fields`."""
    return frozen.decode() if type(frozen) is bytes else to_json(frozen).decode()


_IMMUTABLE = (int, float, str, bool, type(None))


def _frozen(name: str, value: Any) -> Any:
    kind = type(value)
    if kind in _IMMUTABLE or isinstance(value, Enum):
        return value
    if kind is ExecutionMeta and value.interrupt_data is None:  # its other fields are immutable
        return dict(value.__dict__)
    return _json(name, value)


def _checked_json(schema: type[AgentState], name: str, value: Any) -> bytes:
    """`value`'s JSON, refused if it would not load back as it is."""
    if type(value) is Layout:
        return _layout_json(schema, value)
    text = _json(name, value)
    check_field(schema, name, value, text, custom=False)
    return text


#: Each distinct subgraph layout written, checked once (a step inside a subgraph mostly keeps it).
_layouts: dict[tuple[Any, ...], bytes] = {}


def _layout_json(schema: type[AgentState], layout: Layout) -> bytes:
    """The JSON of the engine's layout of a packed state, checked the first time it is seen."""
    text = _layouts.get(layout.key)
    if text is None:
        text = _json(FRAME_KEY, layout)
        check_field(schema, FRAME_KEY, layout, text, custom=False)
        if len(_layouts) >= 1024:  # a thread whose conversation grows makes a new one each step
            _layouts.clear()
        _layouts[layout.key] = text
    return text


def _json(name: str, value: Any) -> bytes:
    try:
        return to_json(value)
    except PydanticSerializationError as exc:
        raise unserializable(name, value, exc) from None


def _present(state: AgentState, names: Iterable[str] | None) -> Iterator[tuple[str, Any]]:
    values = state.__dict__
    extra = state.__pydantic_extra__ or {}
    if names is None:
        names = [*values, *extra]
    for name in names:
        if name != MESSAGES:
            value = values[name] if name in values else extra.get(name, _MISSING)
            if value is not _MISSING:
                yield name, value


_MISSING = object()


@lru_cache(maxsize=256)
def has_custom_serializers(schema: type[AgentState]) -> bool:
    """True when the schema changes how a field is written (then the model must dump it)."""
    decorators = schema.__pydantic_decorators__
    if decorators.field_serializers or decorators.model_serializers:
        return True
    return any(
        field.metadata or (field.annotation is not None and hasattr(field.annotation, "__metadata__"))
        for field in schema.model_fields.values()
        if field.annotation not in (int, str, float, bool)
    )


def decode_state(
    schema: type[AgentState], fields: Mapping[str, str], messages: Iterable[str]
) -> AgentState:
    """Rebuild a state from JSON text through `schema` (validation only, no imports, no calls).

    A thread saved inside subgraphs comes back as its root state, the frames riding along still
    encoded (`loaded_frames`) for the graph that knows their schemas.
    """
    if FRAME_KEY in fields:
        packed = split_packed(dict(fields), list(messages))
        if packed is not None:
            root, root_messages, frames = packed
            return attach_frames(_validate(schema, _document(root, ",".join(root_messages))), frames)
    return _validate(schema, _document(fields, ",".join(messages)))


def decode_parts(
    schema: type[AgentState], fields: Mapping[str, str], messages: bytes | Sequence[bytes | memoryview]
) -> AgentState:
    """Rebuild a state through `schema` from field texts and the raw contents of its messages
    array (as `message_bytes` writes them, taken from a file without parsing them first), in one
    piece or in several that join with commas (each step's new messages)."""
    pieces = [messages] if isinstance(messages, bytes) else [piece for piece in messages if piece]
    if FRAME_KEY in fields:  # a packed thread: its frames take their messages one by one
        return decode_state(schema, fields, split_messages(b",".join(pieces)))
    head = "".join(f"{json_name(name)}:{text}," for name, text in fields.items())
    document = [b"{" + head.encode() + b'"messages":[']
    for piece in pieces:  # joined once: a long conversation is copied once more, not per piece
        document += (piece, b",")
    document[-1] = b"]}" if pieces else document[-1] + b"]}"
    return _validate(schema, b"".join(document))


def split_messages(messages: bytes) -> list[str]:
    """The JSON text of each message in the raw contents of a messages array."""
    if not messages:
        return []
    return [compact(m) for m in json.loads(b"[" + messages + b"]")]


def _document(fields: Mapping[str, str], messages: str) -> str:
    parts = [f"{json_name(name)}:{text}" for name, text in fields.items()]
    parts.append(f'"{MESSAGES}":[{messages}]')
    return "{" + ",".join(parts) + "}"


#: Above this much JSON, the garbage collector is paused while the state is built.
GC_PAUSE_BYTES = 256 * 1024
_gc_lock = threading.Lock()
_gc_pausers = 0


def _validate(schema: type[AgentState], text: str | bytes) -> AgentState:
    validate = _json_validator(schema)
    if len(text) < GC_PAUSE_BYTES:
        return validate(text)
    with _gc_paused():
        return validate(text)


def prepare(schema: type[AgentState]) -> None:
    """Build, once per process, what saving and loading states of `schema` needs (its JSON
    validator; whether it writes fields its own way). Compiling a graph asks for it, so that a
    short-lived process (a script resuming one thread) builds it while its store connects,
    not between reading the thread and running the node."""
    _json_validator(schema)
    has_custom_serializers(schema)


def _json_validator(schema: type[AgentState]) -> Callable[[str | bytes], AgentState]:
    """`schema`'s own validator, built again from its core schema without the string cache.

    The cache keeps each distinct short string of a document once, which pays when the same
    values repeat; a thread's messages hardly repeat (ids, texts, timestamps), and looking each
    one up cost a sixth of opening a 10,000-message thread. The core schema is the model's, so
    it validates exactly as `model_validate_json` does (built again when the model is rebuilt);
    a schema not complete yet (a forward reference) goes through `model_validate_json`, which
    says what is missing."""
    own = schema.__dict__.get("__pydantic_validator__")
    known = _validators.get(schema)
    if known is not None and known[0] is own:
        return known[1]
    validate: Callable[[str | bytes], AgentState] = schema.model_validate_json
    if schema.__pydantic_complete__:
        try:
            config = CoreConfig(cache_strings="none")
            validate = SchemaValidator(schema.__pydantic_core_schema__, config).validate_json
        except Exception:  # noqa: BLE001 - a schema pydantic-core builds only its own way
            validate = schema.model_validate_json
    with _validators_lock:
        if len(_validators) >= 256:  # schemas made on the fly (tests, notebooks): keep the newest
            _validators.pop(next(iter(_validators)))
        _validators[schema] = (own, validate)
    return validate


_validators: dict[type[AgentState], tuple[object, Callable[[str | bytes], AgentState]]] = {}
_validators_lock = threading.Lock()


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a large state is built: every generation-2 pass
    in between walks all the objects built so far, which made opening a long thread grow with
    the square of its length (a 100,000-message state: 0.5 s of 0.7). Nothing built here forms
    a cycle; the collector runs again when the last decoder in the process is done."""
    global _gc_pausers
    with _gc_lock:
        _gc_pausers += 1
        if _gc_pausers == 1:
            resume = gc.isenabled()
            gc.disable()
            _gc_pause_state[0] = resume
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_pause_state[0]:
                _enable_promoting()


_gc_pause_state = [False]  # whether the collector was on when the first decoder paused it


def _enable_promoting() -> None:
    """Turn the collector back on, with what was built meanwhile counted as old. Enabled
    plainly, its first pass would walk every object of the new state at once (40% of opening
    a 10,000-message thread); `freeze` then `unfreeze` moves them to the oldest generation
    without walking them, where later full passes see them as any long-lived object. Only
    when the process has frozen nothing itself, as `unfreeze` would release that, too."""
    if gc.get_freeze_count():
        gc.enable()
        return
    gc.freeze()
    gc.enable()
    gc.unfreeze()
