"""Every way Vapi can authenticate a delivery, one small class per scheme.

- `VapiSecret`: the legacy `x-vapi-secret` header (`secret`/`secrets` in the TOML file);
- `BearerCredential`: a static token in `Authorization` or a header of your choice;
- `HmacCredential`: a signature over the raw body, with timestamp and replay checks;
- `OAuth2Credential`: access tokens this receiver issues at its token endpoint.

Each takes a sans-io `RequestView` and answers a `Check`; a level accepts a request when any
of its credentials does, which is what a migration from one scheme to another needs.
"""

from __future__ import annotations

from receiver.credentials.base import ACCEPTED, Check, Credential, RequestView, refused
from receiver.credentials.bearer import BearerCredential
from receiver.credentials.hmac_plan import HmacCredential
from receiver.credentials.loading import credential_from_mapping
from receiver.credentials.oauth2 import OAuth2Credential
from receiver.credentials.replay import ReplayCache
from receiver.credentials.secret import SECRET_HEADER, VapiSecret

__all__ = [
    "ACCEPTED",
    "SECRET_HEADER",
    "BearerCredential",
    "Check",
    "Credential",
    "HmacCredential",
    "OAuth2Credential",
    "ReplayCache",
    "RequestView",
    "VapiSecret",
    "credential_from_mapping",
    "refused",
]
