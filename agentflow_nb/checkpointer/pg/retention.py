"""`prune`: delete old checkpoints of a thread, keeping every one that is still needed."""

from __future__ import annotations

from typing import Any

from agentflow_nb.checkpointer.pg.sql import Statements

__all__ = ["prune"]


def prune(cur: Any, sql: Statements, thread_id: str, keep_last: int) -> int:
    """Delete all but the newest `keep_last` checkpoints (in the current transaction); the count.

    Kept besides them: the newest checkpoint, any checkpoint another thread was forked from,
    every row a kept checkpoint's fields are stored against (its snapshot and the deltas
    between), and the message logs the kept checkpoints read.
    """
    cur.execute(sql.prune_rows, (thread_id,))
    rows = cur.fetchall()  # seq, checkpoint_id, parent_id, snap, log
    if not rows:
        return 0
    by_id = {row[1]: row for row in rows}
    cur.execute(sql.forked_from, (list(by_id), thread_id))
    wanted = [row[1] for row in rows[-keep_last:]]
    wanted += [parent for (parent,) in cur.fetchall()]
    needed: set[str] = set()
    for checkpoint_id in wanted:
        row = by_id.get(checkpoint_id)
        while row is not None and row[1] not in needed:
            needed.add(row[1])
            row = None if row[3] else by_id.get(row[2] or "")
    doomed = [row[0] for row in rows if row[1] not in needed]
    if doomed:
        cur.execute(sql.prune_delete, (thread_id, doomed))
        cur.execute(sql.prune_logs, (thread_id, sorted({by_id[i][4] for i in needed})))
    return len(doomed)
