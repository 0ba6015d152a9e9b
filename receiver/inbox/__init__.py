"""The durable inbox: informational deliveries stored before they are acknowledged.

- `settings`: the `[inbox]` table (`InboxConfig`).
- `backend`: `InboxBackend`, what the runner needs from a store; `sqlite`: the one-host
  SQLite file; `postgres`, `postgres_schema`: the fleet's PostgreSQL database (`[inbox] url`).
- `schema`, `store`: the file and its operations, shared by the receiver and the CLI.
- `loop_writer`: SQLite writes on the event loop, one group commit per loop turn.
- `thread`: the inbox's own thread, for what may wait on the disk or another process's lock.
- `keys`: idempotency keys (a signed message id header, else a digest of the raw body).
- `runner`: `Inbox`, what the receiver's core calls; `replay`: stored tool results.

Only the light modules are imported here, because `receiver.config` imports this package.
"""

from __future__ import annotations

from receiver.inbox.schema import InboxError
from receiver.inbox.settings import InboxConfig
from receiver.inbox.store import Delivery, InboxStore, Stats

__all__ = ["Delivery", "InboxConfig", "InboxError", "InboxStore", "Stats"]
