"""`PgCheckpointer`: threads in PostgreSQL, shared by worker processes, machines and notebooks.

Needs the `postgres` extra (`pip install "agentflow_nb[postgres]"`: psycopg 3 and psycopg-pool),
imported only when a `PgCheckpointer` is made. `LocalCluster` starts a throwaway server for
tests, benchmarks and demos.
"""

from __future__ import annotations

from agentflow_nb.checkpointer.pg.cluster import LocalCluster
from agentflow_nb.checkpointer.pg.migrate import SchemaVersionError
from agentflow_nb.checkpointer.pg.rows import CorruptCheckpointError
from agentflow_nb.checkpointer.pg.store import PgCheckpointer

__all__ = ["CorruptCheckpointError", "LocalCluster", "PgCheckpointer", "SchemaVersionError"]
