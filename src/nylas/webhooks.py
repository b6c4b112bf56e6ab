"""Checking that a webhook notification came from the API (docs/protocol.md §16.4)."""

from __future__ import annotations

import hashlib
import hmac


def verify_webhook_signature(
    nylas_signature: str, raw_body: bytes | bytearray | str, client_secret: str
) -> bool:
    """True when `X-Nylas-Signature` is the HMAC-SHA256 of the raw body keyed with the app's
    client secret (compare before parsing the JSON)."""
    body = raw_body.encode("utf-8") if isinstance(raw_body, str) else bytes(raw_body)
    digest = hmac.new(client_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(digest, nylas_signature.strip().lower())
