"""What several test files share: the org secret and a receiver that accepts it.

Fixtures and hooks live in `conftest.py`; plain helpers live here, so a test file imports
them like any module and `conftest.py` is not imported by name.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.testclient import TestClient

from receiver import Receiver

SECRET = "test-org-secret"


def make_receiver(**options: Any) -> Receiver:
    """A receiver with only an org secret, plus any `[receiver]` options."""
    return Receiver(config={"org": {"secret": SECRET}, "receiver": options})


def post(client: TestClient, envelope: dict[str, Any], secret: str = SECRET) -> Any:
    """POST an envelope to `/vapi` with the org secret (or `secret`)."""
    return client.post(
        "/vapi",
        content=json.dumps(envelope),
        headers={"content-type": "application/json", "x-vapi-secret": secret},
    )
