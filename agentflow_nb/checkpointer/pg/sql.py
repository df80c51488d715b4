"""The SQL of `PgCheckpointer`: numbered migrations and the statements the store runs.

Every statement is a plain string with `{s}` standing for the quoted schema name. Each one
the hot path runs is a single statement, so with an autocommit connection it is one round trip
and one transaction: nothing holds session state (advisory locks, temp tables) across
statements, which keeps the store usable behind a transaction-mode pooler.

Tables:

- `threads`: one row per thread: its head (newest checkpoint) and status, and the run lease
  (`owner`, `owner_name`, `lease_until`, `stop_requested`). Only `status` is indexed besides
  the key, and the table leaves room in each page, so a step's update of the row is a cheap
  in-place (HOT) update.
- `checkpoints`: one row per checkpoint. `seq` orders a thread's checkpoints. A row holds either
  every non-message field (`snap`) or only the fields its step changed; `base_seq` is the
  snapshot its chain of deltas starts from, never more than `MAX_CHAIN` rows back, so loading
  reads a bounded number of rows. Field names and JSON texts are kept in two parallel arrays.
  From version 2 the row also keeps a copy of its head checkpoint's columns (`head_*`) and,
  when the thread is at rest (not running) and they are small, the head's whole set of fields,
  so a run resuming a thread reads that one row by its key (plus the head's messages, if any)
  instead of a chain of checkpoints.
- `messages`: append-only message logs. A checkpoint's messages are the first `n` of its `log`;
  a step that appends writes only the new ones. A branch (a run continued from an older
  checkpoint, or a step that rewrote messages) starts a new log, copying the kept prefix on
  the server.
"""

from __future__ import annotations

import re

__all__ = ["CHANNEL_SUFFIX", "MAX_CHAIN", "MIGRATIONS", "Statements", "quote_schema"]

#: A delta may sit at most this many rows after its snapshot.
MAX_CHAIN = 32
CHANNEL_SUFFIX = ".stop"

_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def quote_schema(schema: str) -> str:
    """The schema name as a quoted SQL identifier, after checking it is a plain name."""
    if not isinstance(schema, str) or not _SCHEMA_NAME.fullmatch(schema):
        raise ValueError(
            f"schema `{schema}` is not a plain name; use letters, digits and `_` (at most 63, "
            'not starting with a digit), e.g. schema="agentflow"'
        )
    return f'"{schema}"'


#: (version, what it does, SQL). Applied in order, each once, under a transaction-level lock.
MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (1, "threads, checkpoints and message logs", """
CREATE TABLE {s}.threads (
    thread_id      text PRIMARY KEY,
    head           text,
    head_seq       bigint NOT NULL DEFAULT 0,
    status         text,
    step           integer,
    node           text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    owner          text,
    owner_name     text,
    lease_until    timestamptz,
    taken_from     text,
    stop_requested boolean NOT NULL DEFAULT false
) WITH (fillfactor = 70);
CREATE INDEX threads_by_status ON {s}.threads (status);
CREATE TABLE {s}.checkpoints (
    thread_id     text NOT NULL,
    seq           bigint NOT NULL,
    checkpoint_id text NOT NULL,
    parent_id     text,
    step          integer NOT NULL,
    node          text,
    status        text NOT NULL,
    source        text NOT NULL,
    created_at    double precision NOT NULL,
    snap          boolean NOT NULL,
    base_seq      bigint NOT NULL,
    snap_bytes    integer NOT NULL,
    chain_bytes   integer NOT NULL,
    log           bigint NOT NULL,
    n             integer NOT NULL,
    field_names   text[] NOT NULL,
    field_values  text[] NOT NULL,
    dropped       text[] NOT NULL,
    PRIMARY KEY (thread_id, seq),
    UNIQUE (thread_id, checkpoint_id)
);
CREATE INDEX checkpoints_by_parent ON {s}.checkpoints (parent_id) WHERE source = 'fork';
CREATE TABLE {s}.messages (
    thread_id text NOT NULL,
    log       bigint NOT NULL,
    idx       integer NOT NULL,
    body      text NOT NULL,
    PRIMARY KEY (thread_id, log, idx)
);
"""),
    (2, "the head checkpoint kept in its thread's row, and schema_version()", """
ALTER TABLE {s}.threads
    ADD COLUMN head_parent      text,
    ADD COLUMN head_source      text,
    ADD COLUMN head_at          double precision,
    ADD COLUMN head_base        bigint,
    ADD COLUMN head_snap_bytes  integer,
    ADD COLUMN head_chain_bytes integer,
    ADD COLUMN head_log         bigint,
    ADD COLUMN head_n           integer,
    ADD COLUMN head_names       text[],
    ADD COLUMN head_values      text[];
CREATE OR REPLACE FUNCTION {s}.schema_version() RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT 2';
"""),
)
# Every migration from 2 on ends by replacing `schema_version()` with its own number: the
# statement that takes a lease reads the version through it, which costs a new connection
# far less than reading `schema_versions` (one more table to load). `schema_versions` stays
# the record that `migrate` works from.

LATEST = MIGRATIONS[-1][0]

_COLUMNS = (
    "c.seq, c.checkpoint_id, c.parent_id, c.step, c.node, c.status, c.source, c.created_at, c.snap, "
    "c.base_seq, c.snap_bytes, c.chain_bytes, c.log, c.n, c.field_names, c.field_values, c.dropped"
)


class Statements:
    """Every statement of the store, for one schema."""

    def __init__(self, schema: str) -> None:
        s = quote_schema(schema)
        self.schema = schema
        self.channel = schema + CHANNEL_SUFFIX
        self.lock_key = f"agentflow_nb migrations {schema}"
        self.create_schema = f"CREATE SCHEMA IF NOT EXISTS {s}"
        self.create_versions = (
            f"CREATE TABLE IF NOT EXISTS {s}.schema_versions (version integer PRIMARY KEY, "
            "description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        self.current_version = f"SELECT coalesce(max(version), 0) FROM {s}.schema_versions"
        self.record_version = f"INSERT INTO {s}.schema_versions (version, description) VALUES (%s, %s)"
        self.migrations = [(v, what, sql.replace("{s}", s)) for v, what, sql in MIGRATIONS]

        # The thread's row gets the new head's columns too (`head_*`, see the module's doc),
        # and, with `whole`, its whole set of fields: `full_names` and `full_values`, or when
        # those are NULL the row's own (a snapshot, or a delta of every field); without, NULL
        # (unknown to the writer, or large). With
        # `release` the run's lease ends with its last write.
        head = f"""
WITH head AS (
    INSERT INTO {s}.threads AS t (thread_id, head, head_seq, status, step, node, head_parent, head_source,
        head_at, head_base, head_snap_bytes, head_chain_bytes, head_log, head_n, head_names, head_values)
    VALUES (%(thread)s, %(id)s, 1, %(status)s, %(step)s, %(node)s, %(parent)s, %(source)s, %(at)s,
        CASE WHEN %(snap)s THEN 1 ELSE %(base)s::bigint END, %(snap_bytes)s, %(chain_bytes)s,
        coalesce(%(log)s::bigint, 1), %(n)s,
        CASE WHEN %(whole)s THEN coalesce(%(full_names)s::text[], %(names)s::text[]) END,
        CASE WHEN %(whole)s THEN coalesce(%(full_values)s::text[], %(values)s::text[]) END)
    ON CONFLICT (thread_id) DO UPDATE SET
        head = excluded.head, head_seq = t.head_seq + 1, status = excluded.status,
        step = excluded.step, node = excluded.node, updated_at = now(),
        head_parent = excluded.head_parent, head_source = excluded.head_source, head_at = excluded.head_at,
        head_base = CASE WHEN %(snap)s THEN t.head_seq + 1 ELSE excluded.head_base END,
        head_snap_bytes = excluded.head_snap_bytes, head_chain_bytes = excluded.head_chain_bytes,
        head_log = coalesce(%(log)s::bigint, t.head_seq + 1), head_n = excluded.head_n,
        head_names = excluded.head_names, head_values = excluded.head_values,
        owner = CASE WHEN %(release)s AND t.owner = %(owner)s THEN NULL ELSE t.owner END,
        owner_name = CASE WHEN %(release)s AND t.owner = %(owner)s THEN NULL ELSE t.owner_name END,
        stop_requested = t.stop_requested AND (%(release)s AND t.owner = %(owner)s) IS NOT TRUE,
        lease_until = CASE WHEN %(release)s AND t.owner = %(owner)s THEN NULL
                           WHEN t.owner = %(owner)s THEN now() + %(ttl)s::float8 * interval '1 second'
                           ELSE t.lease_until END
    WHERE t.head IS NOT DISTINCT FROM %(expected)s
      AND (t.owner = %(owner)s OR t.owner IS NULL OR t.lease_until < now())
    RETURNING t.head_seq AS seq, t.stop_requested
), saved AS (
    INSERT INTO {s}.checkpoints (thread_id, seq, checkpoint_id, parent_id, step, node, status, source,
        created_at, snap, base_seq, snap_bytes, chain_bytes, log, n, field_names, field_values, dropped)
    SELECT %(thread)s, seq, %(id)s, %(parent)s, %(step)s, %(node)s, %(status)s, %(source)s,
        %(at)s, %(snap)s, CASE WHEN %(snap)s THEN seq ELSE %(base)s END, %(snap_bytes)s,
        %(chain_bytes)s, coalesce(%(log)s, seq), %(n)s, %(names)s::text[], %(values)s::text[],
        %(dropped)s::text[]
    FROM head
)"""
        copied = f""", copied AS (
    INSERT INTO {s}.messages (thread_id, log, idx, body)
    SELECT %(thread)s, head.seq, m.idx, m.body
    FROM head JOIN {s}.messages m
      ON m.thread_id = %(thread)s AND m.log = %(copy_log)s AND m.idx < %(copy_n)s
)"""
        added = f""", added AS (
    INSERT INTO {s}.messages (thread_id, log, idx, body)
    SELECT %(thread)s, coalesce(%(log)s, head.seq), %(start)s + u.ord - 1, u.body
    FROM head, unnest(%(bodies)s::text[]) WITH ORDINALITY AS u(body, ord)
)"""
        result = "\nSELECT seq, stop_requested FROM head"
        #: One checkpoint write, in three shapes so that a step without new messages (the most
        #: common) does not pay for inserting none: fields only; with new messages; with a
        #: copied prefix too (a branch). Each is one statement.
        self.write_fields = head + result
        self.write_append = head + added + result
        self.write = head + copied + added + result

        self.thread_row = (
            f"SELECT head, head_seq, owner, owner_name, lease_until, lease_until > now() "
            f"FROM {s}.threads WHERE thread_id = %s"
        )
        #: Take the lease on a thread (its row made if new) and, in the same statement, read the
        #: schema's version and the head's copy in the row: a resume costs one round trip on one
        #: table before its first node runs (two when the head has messages: `head_messages`).
        #: Run through `wire` (text values): the arrays come as JSON. `wire` sends parameters
        #: untyped, hence `%(ttl)s::float8`: untyped beside an `interval`, it makes a new session
        #: weigh every `*` operator there is (0.13 ms of the lease, measured).
        self.acquire = f"""
INSERT INTO {s}.threads AS t (thread_id, owner, owner_name, lease_until)
VALUES (%(thread)s, %(owner)s, %(name)s, now() + %(ttl)s::float8 * interval '1 second')
ON CONFLICT (thread_id) DO UPDATE SET
    owner = excluded.owner, owner_name = excluded.owner_name, lease_until = excluded.lease_until,
    stop_requested = false,
    taken_from = CASE WHEN t.owner IS NOT NULL THEN t.owner_name END
WHERE t.owner IS NULL OR t.lease_until < now()
RETURNING {s}.schema_version(), t.head, t.head_seq, t.taken_from, t.head_names IS NOT NULL,
    t.head_seq, t.head, t.head_parent, t.step, t.node, t.status, t.head_source, t.head_at, false,
    t.head_base, t.head_snap_bytes, t.head_chain_bytes, t.head_log, t.head_n,
    array_to_json(t.head_names), array_to_json(t.head_values)"""
        self.head_messages = (
            f"SELECT string_agg(body, ',' ORDER BY idx) FROM {s}.messages "
            "WHERE thread_id = %(thread)s AND log = %(log)s AND idx < %(n)s"
        )
        chain = f"""
SELECT {_COLUMNS},
    CASE WHEN c.seq = target.seq THEN (
        SELECT string_agg(m.body, ',' ORDER BY m.idx) FROM {s}.messages m
        WHERE m.thread_id = %(thread)s AND m.log = target.log AND m.idx < target.n) END
FROM target JOIN {s}.checkpoints c
  ON c.thread_id = %(thread)s AND c.seq BETWEEN target.base_seq AND target.seq
ORDER BY c.seq"""
        self.get_head = f"""
WITH target AS (
    SELECT c.seq, c.base_seq, c.log, c.n FROM {s}.threads t JOIN {s}.checkpoints c
      ON c.thread_id = t.thread_id AND c.seq = t.head_seq
    WHERE t.thread_id = %(thread)s AND t.head IS NOT NULL
){chain}"""
        self.get_one = f"""
WITH target AS (
    SELECT seq, base_seq, log, n FROM {s}.checkpoints
    WHERE thread_id = %(thread)s AND checkpoint_id = %(id)s
){chain}"""
        self.list_rows = f"""
WITH top AS (
    SELECT seq, base_seq FROM {s}.checkpoints WHERE thread_id = %(thread)s
    ORDER BY seq DESC LIMIT %(limit)s
)
SELECT {_COLUMNS}, (SELECT head FROM {s}.threads WHERE thread_id = %(thread)s)
FROM {s}.checkpoints c
WHERE c.thread_id = %(thread)s AND c.seq >= (SELECT min(base_seq) FROM top)
ORDER BY c.seq"""
        self.list_messages = f"""
SELECT m.log, array_agg(m.body ORDER BY m.idx)
FROM {s}.messages m JOIN unnest(%(logs)s::bigint[], %(ns)s::integer[]) AS w(log, n)
  ON m.log = w.log AND m.idx < w.n
WHERE m.thread_id = %(thread)s
GROUP BY m.log"""
        #: First in a transaction of several reads that must agree (history's rows and messages).
        self.snapshot_reads = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
        self.threads_all = f"SELECT thread_id FROM {s}.threads WHERE head IS NOT NULL ORDER BY thread_id"
        self.threads_with = (
            f"SELECT thread_id FROM {s}.threads WHERE head IS NOT NULL AND status = ANY(%s) ORDER BY thread_id"
        )


        self.release = f"""
WITH gone AS (
    DELETE FROM {s}.threads WHERE thread_id = %(thread)s AND owner = %(owner)s AND head IS NULL
)
UPDATE {s}.threads SET owner = NULL, owner_name = NULL, lease_until = NULL, stop_requested = false
WHERE thread_id = %(thread)s AND owner = %(owner)s AND head IS NOT NULL"""
        self.renew = f"""
UPDATE {s}.threads SET lease_until = now() + %(ttl)s::float8 * interval '1 second'
WHERE thread_id = ANY(%(threads)s) AND owner = ANY(%(owners)s)
RETURNING owner, stop_requested"""
        self.is_running = (
            f"SELECT owner_name FROM {s}.threads WHERE thread_id = %s AND owner IS NOT NULL "
            "AND lease_until > now()"
        )
        self.request_stop = f"""
WITH asked AS (
    UPDATE {s}.threads SET stop_requested = true
    WHERE thread_id = %(thread)s AND owner IS NOT NULL AND lease_until > now()
    RETURNING owner
)
SELECT pg_notify(%(channel)s, owner) FROM asked"""
        self.clear_stop = f"UPDATE {s}.threads SET stop_requested = false WHERE thread_id = %s AND owner = %s"

        self.prune_rows = (
            f"SELECT seq, checkpoint_id, parent_id, snap, log FROM {s}.checkpoints "
            "WHERE thread_id = %s ORDER BY seq"
        )
        self.forked_from = (
            f"SELECT DISTINCT parent_id FROM {s}.checkpoints WHERE source = 'fork' AND parent_id = ANY(%s) "
            "AND thread_id <> %s"
        )
        self.prune_delete = f"DELETE FROM {s}.checkpoints WHERE thread_id = %s AND seq = ANY(%s)"
        self.prune_logs = f"DELETE FROM {s}.messages WHERE thread_id = %s AND NOT (log = ANY(%s))"
