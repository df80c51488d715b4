"""Repair a damaged thread file: `FileCheckpointer.repair(...)`, or from a shell::

    python -m agentflow_nb.checkpointer.repair FOLDER THREAD_ID [--keep last-snapshot] [--dry-run]

A torn last line is a crash and is cut by the next run on its own; any other damage stops the
thread with `CheckpointCorruptError` until it is repaired. Two ways:

- `keep="before-damage"`: keep every line before the first damaged one; the thread goes on from
  the last checkpoint before the damage.
- `keep="last-snapshot"`: also keep every later checkpoint whose chain is intact (from a snapshot
  written after the damage, or from one before it), so the thread goes on from the newest
  checkpoint that can still be rebuilt.

The file as it was is first copied beside it (`<name>.jsonl.damaged-<time>`), so nothing is lost.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Literal, NamedTuple

from agentflow_nb.checkpointer.lines import line_number
from agentflow_nb.checkpointer.paths import fsync_folder, open_file
from agentflow_nb.checkpointer.records import CorruptRecord, Record, encode_line, parse_record, verifies
from agentflow_nb.errors import UnsafeRecordError

__all__ = ["Keep", "RepairReport", "main", "repair_file"]

Keep = Literal["before-damage", "last-snapshot"]


class RepairReport(NamedTuple):
    """What a repair found and did."""

    thread_id: str
    damaged_line: int | None  # the first damaged line (1-based); None: nothing to repair
    reason: str  # what is wrong with it
    kept: int  # lines kept
    dropped: int  # lines left out (all still in `backup`)
    backup: Path | None  # the file as it was
    resumes_from: str | None  # the checkpoint the thread now goes on from (None: no checkpoint left)

    def __str__(self) -> str:
        if self.damaged_line is None:
            return f"thread `{self.thread_id}`: nothing to repair"
        where = f"goes on from checkpoint `{self.resumes_from}`" if self.resumes_from else "has no checkpoint left"
        saved = f"; the file as it was is `{self.backup.name}`" if self.backup else " (dry run: nothing changed)"
        return (f"thread `{self.thread_id}`: line {self.damaged_line} is damaged ({self.reason}); kept "
                f"{self.kept} lines, left out {self.dropped}; the thread {where}{saved}")


class _Line(NamedTuple):
    offset: int
    raw: bytes
    record: Record | None
    problem: str | None


def repair_file(path: Path, thread_id: str, keep: Keep, *, dry_run: bool = False) -> RepairReport:
    """Repair `path` as `keep` says (the caller holds the thread's lock)."""
    if keep not in ("before-damage", "last-snapshot"):
        raise ValueError(f'keep must be "before-damage" or "last-snapshot", not `{keep!r}`')
    lines = _check(_scan(path))
    first = next((i for i, line in enumerate(lines) if line.problem), None)
    if first is None:
        return RepairReport(thread_id, None, "", len(lines), 0, None, lines[-1].record.id if lines else None)
    kept = list(lines[:first])
    if keep == "last-snapshot":
        kept += [line for line in lines[first:] if line.problem is None]
    data = _rewrite(kept, first, thread_id)
    with path.open("rb") as handle:
        damaged_line = line_number(handle, lines[first].offset)
    backup = None if dry_run else _replace(path, data)
    newest = kept[-1].record.id if kept and kept[-1].record else None
    return RepairReport(thread_id, damaged_line, lines[first].problem or "", len(kept),
                        len(lines) - len(kept), backup, newest)


def _scan(path: Path) -> list[_Line]:
    """Every line of the file, parsed where possible (a torn last line is a problem too; a last
    line that lost only its newline is not, and gets it back)."""
    fd = open_file(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read()
    lines, pos = [], 0
    while pos < len(data):
        end = data.find(b"\n", pos)
        end = len(data) if end < 0 else end + 1
        raw = data[pos:end]
        if not raw.endswith(b"\n") and verifies(raw):  # complete; only its final newline is missing
            raw += b"\n"
        try:
            lines.append(_Line(pos, raw, parse_record(raw, pos), None))
        except (CorruptRecord, UnsafeRecordError) as exc:
            lines.append(_Line(pos, raw, None, str(exc)))
        pos = end
    return lines


def _check(lines: list[_Line]) -> list[_Line]:
    """Mark every line whose record cannot be rebuilt from intact, earlier lines."""
    seen: set[str] = set()
    good: dict[str, Record] = {}
    checked = []
    for line in lines:
        record, problem = line.record, line.problem
        if record is not None and problem is None:
            problem = _chain_problem(record, seen, good)
            seen.add(record.id)
            if problem is None:
                good[record.id] = record
        checked.append(line._replace(problem=problem))
    return checked


def _chain_problem(record: Record, seen: set[str], good: dict[str, Record]) -> str | None:
    if record.id in seen:
        return f"it repeats checkpoint id `{record.id}`"
    if record.snap:
        return None
    parent = good.get(record.parent or "")
    if parent is None:
        return f"its parent `{record.parent}` is damaged or not earlier in the file"
    if record.mfrom > parent.n:
        return f"it keeps {record.mfrom} messages of a parent that has {parent.n}"
    return None


def _rewrite(kept: list[_Line], first: int, thread_id: str) -> bytes:
    """The kept lines; those after the damage are written again with their new offsets."""
    out: list[bytes] = []
    offset = 0
    moved: dict[int, int] = {}  # old offset -> new offset, of every kept line
    snapshot_of: dict[str, int] = {}  # record id -> old offset of its chain's snapshot
    for index, line in enumerate(kept):
        record = line.record
        assert record is not None
        snapshot_of[record.id] = line.offset if record.snap else snapshot_of[record.parent or ""]
        moved[line.offset] = offset
        raw = line.raw
        if index >= first:  # after the damage: offsets moved
            head = {**record.head(), "thread": thread_id, "base": moved[snapshot_of[record.id]]}
            raw = encode_line(head, record.fields, record.messages)
        out.append(raw)
        offset += len(raw)
    return b"".join(out)


def _replace(path: Path, data: bytes) -> Path:
    """Copy the file aside, then put `data` in its place atomically; returns the copy."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    backup = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while os.path.lexists(backup):
        n += 1
        backup = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    shutil.copyfile(path, backup, follow_symlinks=False)
    temporary = path.with_name(f"{path.name}.repairing")
    if os.path.lexists(temporary):
        os.unlink(temporary)
    fd = open_file(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    fsync_folder(path.parent)
    return backup


def main(argv: list[str] | None = None) -> int:
    """The command line: check or repair one thread of a folder."""
    from agentflow_nb.checkpointer.file import FileCheckpointer

    parser = argparse.ArgumentParser(prog="python -m agentflow_nb.checkpointer.repair",
                                     description="Repair a damaged FileCheckpointer thread file.")
    parser.add_argument("folder", help="the FileCheckpointer folder")
    parser.add_argument("thread_id", help="the thread to repair")
    parser.add_argument("--keep", choices=["before-damage", "last-snapshot"], default="before-damage",
                        help="keep the lines before the damage (default), or also every later "
                             "checkpoint that can still be rebuilt")
    parser.add_argument("--dry-run", action="store_true", help="say what would be done; change nothing")
    args = parser.parse_args(argv)
    report = FileCheckpointer(args.folder).repair(args.thread_id, keep=args.keep, dry_run=args.dry_run)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
