"""File names of threads, and opening files without following symbolic links.

A thread id maps to one file name that no other id maps to, even on a disk that ignores case
(macOS and Windows by default): the id is percent-encoded, upper-case letters included, so
`Alice` and `alice` are `%41lice.jsonl` and `alice.jsonl`. A name Windows keeps for a device
(`con`, `nul`, `com1`, ..., also before a dot: `nul.x`) has its first letter escaped the same way
(`%63on.jsonl`), since Windows would open the device instead of a file. Other ids keep the names
earlier versions gave them; `migrate_legacy_names` renames the files earlier versions wrote for
ids with upper-case letters or device names.

Thread, lock and stop files are never opened through a symbolic link: a link planted in the
folder could otherwise make a run append to, or truncate, any file the user can write.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, unquote

from agentflow_nb.errors import UnsafeFileError

__all__ = [
    "SUFFIX",
    "file_name",
    "fsync_folder",
    "identity",
    "migrate_legacy_names",
    "open_file",
    "present",
    "reader",
    "refuse_link",
    "thread_of",
    "touch",
    "unlink",
    "write_all",
]

SUFFIX = ".jsonl"
_SAFE = "-_.@"
_MAX_NAME = 200
#: An upper-case letter that is not a hex digit of a %XX escape.
_LITERAL_UPPER = re.compile(r"(?<!%)(?<!%[0-9A-F])[A-Z]")
#: Names Windows gives to devices, in any case and even followed by a dot and more (`nul.txt`).
_DEVICES = frozenset(
    {"con", "prn", "aux", "nul", *(f"{port}{digit}" for port in ("com", "lpt") for digit in range(10))}
)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation


def file_name(thread_id: str) -> str:
    """The file name stem of `thread_id` (raises `ValueError` for an id that cannot name a file)."""
    try:
        name = _not_a_device(_LITERAL_UPPER.sub(lambda m: f"%{ord(m.group()):02X}", quote(thread_id, safe=_SAFE)))
    except UnicodeEncodeError:  # a lone surrogate
        name = ""
    if not thread_id or not name or len(name) > _MAX_NAME or name.startswith("."):
        raise ValueError(
            f"thread id `{thread_id!r}` cannot name a file (empty, too long, starting with `.`, "
            "or not encodable text); use a shorter id made of letters, digits, `-`, `_`"
        )
    return name


def _not_a_device(name: str) -> str:
    """`name`, its first letter escaped if Windows would take it for a device (upper-case
    letters are escaped already, so a device name here is in lower case)."""
    if name.partition(".")[0] in _DEVICES:
        return f"%{ord(name[0]):02X}{name[1:]}"
    return name


def thread_of(stem: str) -> str | None:
    """The thread id whose file name stem is `stem`, or None for a name `file_name` never makes
    (a file someone named by hand)."""
    thread_id = unquote(stem, errors="strict") if "%" in stem else stem
    try:
        return thread_id if file_name(thread_id) == stem else None
    except (ValueError, UnicodeDecodeError):
        return None


def migrate_legacy_names(folder: Path) -> None:
    """Rename thread files that earlier versions named with upper-case letters as they are
    (`Alice.jsonl`, which on a case-insensitive disk was also `alice`'s file) or with a device
    name (`con.jsonl`, which Windows cannot open)."""
    try:
        entries = os.listdir(folder)
    except OSError:
        return
    present = set(entries)
    for entry in entries:
        stem = entry[: -len(SUFFIX)]
        if not entry.endswith(SUFFIX):
            continue
        thread_id = _earlier_name_of(stem)
        if thread_id is None:
            continue
        new = file_name(thread_id) + SUFFIX
        if new not in present and not os.path.islink(folder / entry):
            os.replace(folder / entry, folder / new)


def _earlier_name_of(stem: str) -> str | None:
    """The thread id whose file an earlier version named `stem`, when that is not its name now."""
    if not (_LITERAL_UPPER.search(stem) or _not_a_device(stem) != stem):
        return None
    try:
        thread_id = unquote(stem, errors="strict")
        if thread_id and quote(thread_id, safe=_SAFE) == stem and file_name(thread_id) != stem:
            return thread_id
    except (ValueError, UnicodeError):  # not a name any version made
        pass
    return None


def present(path: Path) -> bool:
    """Whether a thread file exists (`UnsafeFileError` if it is a link, even a dangling one)."""
    refuse_link(path)
    return os.path.lexists(path)


def reader(path: Path) -> BinaryIO:
    """`path` opened for reading, never through a symbolic link."""
    return os.fdopen(open_file(path, os.O_RDONLY), "rb")


def touch(path: Path) -> None:
    """Create the (empty) file `path`; anything else found there, such as a link, is replaced."""
    try:
        refuse_link(path)
    except UnsafeFileError:
        unlink(path)
    os.close(open_file(path, os.O_WRONLY | os.O_CREAT))


def unlink(path: Path) -> None:
    """Remove `path` (a link is removed itself, never what it points to)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def write_all(fd: int, data: bytes) -> None:
    """Write all of `data` (one `write` may take only part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def refuse_link(path: Path) -> None:
    """Raise `UnsafeFileError` if `path` is a symbolic link (or anything but a regular file)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(info.st_mode):
        raise _unsafe(path, info)


def open_file(path: Path, flags: int, mode: int = 0o644) -> int:
    """`os.open` that refuses a symbolic link (`O_NOFOLLOW` where the OS has it, else an `lstat`
    check and a comparison with what was opened) and anything but a regular file."""
    refuse_link(path)  # also keeps a planted FIFO from blocking the open
    try:
        fd = os.open(path, flags | _NOFOLLOW | _BINARY, mode)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK, getattr(errno, "EFTYPE", errno.ELOOP)):
            raise _unsafe(path, os.lstat(path)) from None
        raise
    opened = os.fstat(fd)
    if not stat.S_ISREG(opened.st_mode) or (not _NOFOLLOW and not _same(path, opened)):
        os.close(fd)
        raise _unsafe(path, os.lstat(path))
    return fd


def _same(path: Path, opened: os.stat_result) -> bool:
    try:
        now = os.lstat(path)
    except FileNotFoundError:
        return False
    return (now.st_dev, now.st_ino) == (opened.st_dev, opened.st_ino) and stat.S_ISREG(now.st_mode)


def _unsafe(path: Path, info: os.stat_result) -> UnsafeFileError:
    what = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a regular file"
    return UnsafeFileError(
        f"`{path}` is {what}; FileCheckpointer never follows links for thread, lock or stop "
        "files, since a planted link could make a run write to any file. Remove it (and, if it "
        "pointed at a thread you want, copy that file in its place)."
    )


def identity(info: os.stat_result) -> tuple[int, int, int, int]:
    """What changes when anyone writes, cuts or replaces a file: device, inode, size and
    modification time."""
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns


def fsync_folder(path: Path) -> None:
    """Make a file created or renamed in folder `path` survive a power cut (where the OS can:
    Windows cannot open a folder, and makes such changes durable by itself)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
