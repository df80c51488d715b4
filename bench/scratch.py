"""Scratch folders for the stores a benchmark makes, all removed when the process ends.

A store the bench makes lives until the bench is done with it, so its folder cannot be a
`with` block's; without this, every `make bench` left hundreds of folders in the system's
temporary directory."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

__all__ = ["folder"]

_root: list[Path] = []


def folder(prefix: str) -> Path:
    """A new, empty folder under this process's scratch root (made on first use)."""
    if not _root:
        _root.append(Path(tempfile.mkdtemp(prefix="agentflow-bench-")))
        # ignore_errors: a store still holding a file open (Windows) must not fail the bench's exit
        atexit.register(shutil.rmtree, _root[0], ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=_root[0]))
