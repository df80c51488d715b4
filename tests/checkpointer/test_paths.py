"""Thread files: names that survive case-insensitive disks, no symbolic links followed, `threads()`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentflow_nb import FileCheckpointer, Message, UnknownThreadError
from agentflow_nb.checkpointer.paths import file_name, thread_of
from agentflow_nb.errors import UnsafeFileError
from tests.checkpointer.workers import build_slow

needs_links = pytest.mark.skipif(not hasattr(os, "symlink"), reason="this OS cannot make symbolic links")


def small_app(folder: Path):
    return build_slow(str(folder), steps=2, delay=0)


def go(app, thread: str):
    return app.invoke({"messages": [Message.text_message(f"hello {thread}")]}, config={"thread_id": thread})


ids = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20).filter(
    lambda s: not s.startswith(".")
)


def nameable(thread_id: str) -> bool:
    try:
        file_name(thread_id)
    except ValueError:
        return False
    return True


@given(a=ids.filter(nameable), b=ids.filter(nameable))
def test_distinct_ids_get_file_names_that_differ_even_ignoring_case(a, b):
    assert thread_of(file_name(a)) == a
    if a != b:
        assert file_name(a).casefold() != file_name(b).casefold()


def test_an_id_too_long_for_a_file_name_is_refused_clearly():
    with pytest.raises(ValueError, match="cannot name a file"):
        file_name("x" * 300)
    with pytest.raises(ValueError, match="cannot name a file"):
        file_name("bad \ud800 id")


def test_ids_differing_only_in_case_are_two_threads_in_two_files(tmp_path):
    app = small_app(tmp_path)
    go(app, "Alice")
    go(app, "alice")
    names = sorted(p.name for p in tmp_path.glob("*.jsonl"))
    assert names == ["%41lice.jsonl", "alice.jsonl"]
    assert len({n.casefold() for n in names}) == 2  # no clash on a case-insensitive disk either
    for thread in ("Alice", "alice"):
        assert app.get_state({"thread_id": thread}).state.messages[0].content == f"hello {thread}"
    assert app.threads() == ["Alice", "alice"]


def test_a_thread_file_written_by_the_earlier_naming_is_found(tmp_path):
    go(small_app(tmp_path), "Refund-42")
    legacy = tmp_path / "Refund-42.jsonl"  # earlier versions kept upper-case letters as they were
    (tmp_path / "%52efund-42.jsonl").rename(legacy)
    app = small_app(tmp_path)  # a newer version opening the folder
    assert app.threads() == ["Refund-42"]
    assert app.get_state({"thread_id": "Refund-42"}).state.messages[0].content == "hello Refund-42"
    assert not legacy.exists()


def test_threads_lists_only_what_get_state_can_open(tmp_path):
    app = small_app(tmp_path)
    go(app, "real")
    (tmp_path / "My Notes.jsonl").write_text("{}\n")  # named by hand: no thread id maps to it
    (tmp_path / "empty.jsonl").touch()
    assert app.threads() == ["real"]
    for thread in app.threads():
        assert app.get_state({"thread_id": thread}) is not None
    with pytest.raises(UnknownThreadError):
        app.invoke({}, config={"thread_id": "empty"})


def planted(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A threads folder holding a link `name` to a file outside it; (folder, that file)."""
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    folder = tmp_path / "threads"
    folder.mkdir()
    (folder / name).symlink_to(outside)
    return folder, outside


@needs_links
def test_a_planted_lock_link_is_refused_and_its_target_untouched(tmp_path):
    folder, outside = planted(tmp_path, "t.lock")
    app = small_app(folder)
    with pytest.raises(UnsafeFileError, match="t.lock` is a symbolic link"):
        go(app, "t")
    assert outside.read_text() == "keep me"
    with pytest.raises(UnsafeFileError):  # a stop probe does not open it either
        app.stop({"thread_id": "t"})
    assert outside.read_text() == "keep me"


@needs_links
def test_a_planted_thread_file_link_is_refused_and_nothing_is_appended(tmp_path):
    outside = tmp_path / "elsewhere.jsonl"
    go(small_app(tmp_path / "other"), "t")
    outside.write_bytes((tmp_path / "other" / "t.jsonl").read_bytes())
    before = outside.read_bytes()
    folder = tmp_path / "threads"
    folder.mkdir()
    (folder / "t.jsonl").symlink_to(outside)
    app = small_app(folder)
    with pytest.raises(UnsafeFileError, match="t.jsonl` is a symbolic link"):
        app.get_state({"thread_id": "t"})
    with pytest.raises(UnsafeFileError):
        go(app, "t")
    with pytest.raises(UnsafeFileError):
        app.update_state({"thread_id": "t"}, {"note": "x"})
    assert outside.read_bytes() == before
    assert app.threads() == []


@needs_links
def test_a_dangling_thread_file_link_is_refused_not_taken_for_a_new_thread(tmp_path):
    (tmp_path / "t.jsonl").symlink_to(tmp_path / "nowhere" / "file.jsonl")
    app = small_app(tmp_path)
    with pytest.raises(UnsafeFileError):
        go(app, "t")
    assert not (tmp_path / "nowhere").exists()


@needs_links
def test_a_planted_stop_link_is_never_followed(tmp_path):
    import asyncio

    folder, outside = planted(tmp_path, "t.stop")
    assert go(small_app(folder), "t")["status"].value == "completed"  # a run clears it
    assert outside.read_text() == "keep me" and not os.path.lexists(folder / "t.stop")

    runner, other = FileCheckpointer(folder), FileCheckpointer(folder)  # as two processes

    async def stop_across_a_planted_link():
        async with runner.lease("t"):
            (folder / "t.stop").symlink_to(tmp_path / "created-by-following")  # dangling
            assert await other.arequest_stop("t")
            assert await runner.aconsume_stop("t")

    asyncio.run(stop_across_a_planted_link())
    assert not (tmp_path / "created-by-following").exists()


def test_a_thread_id_that_cannot_name_a_file(tmp_path):
    with pytest.raises(ValueError, match="cannot name a file"):
        FileCheckpointer(tmp_path).file_for(".hidden")


DEVICES = ["con", "prn", "aux", "nul", *(f"{p}{d}" for p in ("com", "lpt") for d in range(10))]


def device_name(stem: str) -> bool:
    """Whether Windows would open a device for the file `<stem>.jsonl` (any case, any suffix)."""
    return stem.partition(".")[0].lower() in DEVICES


@given(
    device=st.sampled_from(DEVICES),
    cases=st.lists(st.booleans(), min_size=4, max_size=4),
    suffix=st.sampled_from(["", ".x", ".jsonl", ".tar.gz", "."]),
)
def test_windows_device_names_never_name_a_thread_file(device, cases, suffix):
    thread_id = "".join(c.upper() if up else c for c, up in zip(device, cases + [False])) + suffix
    stem = file_name(thread_id)
    assert not device_name(stem)
    assert thread_of(stem) == thread_id


def test_a_device_named_thread_runs_and_a_file_of_the_earlier_naming_is_found(tmp_path):
    app = small_app(tmp_path)
    for thread in ("con", "nul.x", "com1", "lpt9"):
        go(app, thread)
    names = sorted(p.name for p in tmp_path.glob("*.jsonl"))
    assert names == ["%63om1.jsonl", "%63on.jsonl", "%6Cpt9.jsonl", "%6Eul.x.jsonl"]
    assert not any(device_name(p.stem) for p in tmp_path.iterdir())  # nor its lock and stop files
    (tmp_path / "%6Eul.x.jsonl").rename(tmp_path / "nul.x.jsonl")  # as an earlier version named it
    fresh = small_app(tmp_path)
    assert fresh.threads() == ["com1", "con", "lpt9", "nul.x"]
    assert fresh.get_state({"thread_id": "nul.x"}).state.messages[0].content == "hello nul.x"
    assert not (tmp_path / "nul.x.jsonl").exists()
