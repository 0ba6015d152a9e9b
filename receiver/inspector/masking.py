"""Hiding credentials before a delivery is shown: headers by name, payload values by key.

The inspector shows deliveries to whoever sits at the developer's machine, and screenshots
travel. A header that carries a credential (by its name, or because a configured credential
reads it) is shown as `****`; so is every string value in the body under a key that names a
secret (`serverUrlSecret`, `server.secret`, `credentials[].apiKey`, `token`, ...).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any, Final

from receiver.jsontext import decode_json
from receiver.recording import SECRET_HEADER_WORDS

MASK: Final = "****"

#: A body key whose lower-cased name contains one of these has its value masked.
SECRET_KEY_WORDS: Final = (
    "secret",
    "token",
    "password",
    "apikey",
    "api_key",
    "api-key",
    "authorization",
    "signature",
    "privatekey",
    "private_key",
)


def masked_headers(headers: Mapping[str, str], hidden: Collection[str] = ()) -> dict[str, str]:
    """Headers with every credential value replaced by `MASK`; names are kept, lower-cased."""
    return {
        name.lower(): MASK if _is_credential_header(name.lower(), hidden) else value
        for name, value in headers.items()
    }


def _is_credential_header(name: str, hidden: Collection[str]) -> bool:
    return name in hidden or any(word in name for word in SECRET_HEADER_WORDS)


def masked_body(body: bytes) -> str:
    """The body pretty-printed with secrets masked; text that is not JSON, as it came.

    One pass over the decoded document with an explicit stack: as deep or as wide as the
    body may be (its size and depth are bounded when it is read), no recursion limit and no
    second walk.
    """
    try:
        document = decode_json(body)
    except ValueError:
        return body.decode("utf-8", "replace")
    stack: list[Any] = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if _is_secret_key(key) and value is not None and not isinstance(value, dict | list):
                    node[key] = MASK
                elif isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(item for item in node if isinstance(item, dict | list))
    return json.dumps(document, indent=2, ensure_ascii=False)


def _is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in SECRET_KEY_WORDS)
