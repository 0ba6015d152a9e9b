"""The live inspector: `vapi-receiver serve --inspect` shows every delivery at `/_inspect`.

- `journal`: the last deliveries, bounded in count and bytes, and who is watching.
- `masking`: credential headers and payload secrets hidden before anything is shown.
- `capture`: which level and refusal a delivery had, from the receiver's telemetry.
- `page`: the page, its script and its style (no build step, nothing from a CDN).
- `app`: the ASGI wrapper that records deliveries and serves the page, to loopback only.

Development only: nothing here is imported by the receiver, and the default app has none of it.
"""

from __future__ import annotations

from receiver.inspector.app import INSPECT_PATH, Inspector

__all__ = ["INSPECT_PATH", "Inspector"]
