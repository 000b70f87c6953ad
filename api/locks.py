"""Advisory lock keys that serialise writers across API processes.

On PostgreSQL each is a `pg_advisory_xact_lock`, held until the transaction commits or rolls
back (`AlertStore.locked`). On SQLite every write transaction begins with `BEGIN IMMEDIATE` and
so holds the database's write lock: the keys are implied. A transaction that needs several
takes them in the order they are listed here, so two never wait on each other.
"""

from __future__ import annotations

from typing import Final

FEED_LOCK: Final = 0x4C4B4146  # "LKAF": alert_feed.seq assignment and commit
VISIBILITY_LOCK: Final = 0x4C4B4156  # "LKAV": claims and builds of the visibility index
AUDIT_LOCK: Final = 0x4C4B4155  # "LKAU": the audit hash chain
