"""What a `PgCheckpointer` knows of each thread without asking the server.

A writer needs the thread's head (the write checks it) and the parent checkpoint's metadata (to
write a delta after it, or append to its message log); a run's first read finds the head that
taking the lease read. Both are kept here, for a bounded number of threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import NamedTuple

from agentflow_nb.checkpointer.pg.rows import Meta, Row

__all__ = ["HeadCopy", "KnownThreads"]

_KNOWN_THREADS = 4096  # threads whose head this store remembers
_KNOWN_METAS = 16  # checkpoints remembered per thread (writers only need the newest)
Tip = tuple[str | None, int]  # a thread's head checkpoint id and its seq


class HeadCopy(NamedTuple):
    """The head as its thread's row keeps it (`sql.acquire`), and its messages joined."""

    row: Row
    messages: str


class _Known:
    """What this store last saw of one thread: its head, and recent checkpoints' metadata."""

    __slots__ = ("metas", "tip", "whole")

    def __init__(self) -> None:
        self.tip: Tip | None = None
        self.metas: OrderedDict[str, Meta] = OrderedDict()
        self.whole: str | None = None  # the one checkpoint whose meta keeps its fields


class KnownThreads:
    """Heads and checkpoint metadata seen by one store, and heads read with a lease. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: OrderedDict[str, _Known] = OrderedDict()
        self._preloaded: dict[str, HeadCopy | None] = {}  # heads read with a lease (None: a new thread)

    def seen(self, thread_id: str, tip: Tip | None, metas: Mapping[str, Meta] = {}) -> None:
        """Note the thread's head (`tip`, if known) and checkpoints' metadata just read or written."""
        with self._lock:
            known = self._known.get(thread_id)
            if known is None:
                known = self._known[thread_id] = _Known()
                if len(self._known) > _KNOWN_THREADS:
                    self._known.popitem(last=False)
            else:
                self._known.move_to_end(thread_id)
            if tip is not None:
                known.tip = tip
            for checkpoint_id, meta in metas.items():
                if meta.fields is not None:  # fields are kept for one checkpoint: the newest to come
                    older = known.metas.get(known.whole or "")
                    if older is not None and known.whole != checkpoint_id:
                        known.metas[known.whole] = older._replace(fields=None)  # type: ignore[index]
                    known.whole = checkpoint_id
                known.metas[checkpoint_id] = meta
                known.metas.move_to_end(checkpoint_id)
            while len(known.metas) > _KNOWN_METAS:
                known.metas.popitem(last=False)

    def recall(self, thread_id: str, parent_id: str | None) -> tuple[Tip | None, Meta | None]:
        """The thread's head as last seen, and the metadata of checkpoint `parent_id`."""
        with self._lock:
            known = self._known.get(thread_id)
            if known is None:
                return None, None
            return known.tip, known.metas.get(parent_id or "")

    def forget(self, thread_id: str) -> None:
        """Forget the thread (its head moved under us, or its rows were pruned)."""
        with self._lock:
            self._known.pop(thread_id, None)
            self._preloaded.pop(thread_id, None)

    def preload(self, thread_id: str, head: HeadCopy | None) -> None:
        """Keep the head that taking the lease read (None: a new thread) for the run's first read."""
        with self._lock:
            self._preloaded[thread_id] = head

    def take_preloaded(self, thread_id: str) -> HeadCopy | None | bool:
        """What `preload` kept for the thread, once; False when nothing was kept."""
        with self._lock:
            return self._preloaded.pop(thread_id, False)
