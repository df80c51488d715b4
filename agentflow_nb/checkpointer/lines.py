"""Line-level work on thread files: finding line ends from the end, numbering lines, and
completing or cutting the last line before a run appends after it."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from agentflow_nb.checkpointer.paths import open_file, present
from agentflow_nb.checkpointer.records import verifies

__all__ = ["CheckpointWarning", "cut_torn_tail", "iter_lines", "line_number", "newline_before"]

_BLOCK = 64 * 1024


class CheckpointWarning(UserWarning):
    """A torn last line (a write that never finished) was skipped while reading a thread file."""


def cut_torn_tail(path: Path) -> None:
    """Cut a torn last line (a write that never finished) before appending after it; only that
    line. A last line that passes its checksum is complete: it only gets its missing newline."""
    if not present(path):
        return
    with os.fdopen(open_file(path, os.O_RDWR), "rb+") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            return
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        keep = newline_before(handle, size) + 1
        handle.seek(keep)
        if verifies(handle.read(size - keep)):
            handle.seek(size)
            handle.write(b"\n")
            handle.flush()
            os.fsync(handle.fileno())
            return
        warnings.warn(
            f"{path.name} ended in a torn record ({size - keep} bytes); removed it before appending",
            CheckpointWarning, stacklevel=2,
        )
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())


def newline_before(handle: BinaryIO, end: int) -> int:
    """Offset of the last newline before byte `end` of an open file, or -1: read backwards one
    block at a time, each byte once, however long the line."""
    while end > 0:
        begin = max(0, end - _BLOCK)
        handle.seek(begin)
        cut = handle.read(end - begin).rfind(b"\n")
        if cut >= 0:
            return begin + cut
        end = begin
    return -1


def line_number(handle: BinaryIO, offset: int) -> int:
    """The 1-based number of the line starting at byte `offset` (counts the newlines before)."""
    handle.seek(0)
    count, left = 0, offset
    while left > 0:
        block = handle.read(min(left, 1 << 20))
        if not block:
            break
        count += block.count(b"\n")
        left -= len(block)
    return count + 1


def iter_lines(data: bytes) -> Iterator[tuple[int, memoryview]]:
    """(offset, line) of each line of `data`, line ends included (the last may have none); each
    line a view of `data`, not a copy (a snapshot of a long thread is megabytes)."""
    view = memoryview(data)
    pos = 0
    while pos < len(data):
        end = data.find(b"\n", pos)
        end = len(data) if end < 0 else end + 1
        yield pos, view[pos:end]
        pos = end
