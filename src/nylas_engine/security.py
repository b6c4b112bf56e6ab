"""Secrets: tokens and app secrets kept as SHA-256, passwords as scrypt; constant-time checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets


def new_secret(nbytes: int = 32) -> str:
    """A random URL-safe secret (access tokens, client secrets, auth codes)."""
    return secrets.token_urlsafe(nbytes)


def digest(secret: str) -> str:
    """SHA-256 hex of a high-entropy secret; what the database keeps instead of the secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def matches(secret: str, stored_digest: str) -> bool:
    """Constant-time comparison of a presented secret against a stored digest."""
    return hmac.compare_digest(digest(secret), stored_digest)


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=2**14, r=8, p=1)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(key).decode()


def verify_password(password: str, stored: str | None) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        return False
    _, salt_b64, key_b64 = stored.split("$", 2)
    key = hashlib.scrypt(
        password.encode("utf-8"), salt=base64.b64decode(salt_b64), n=2**14, r=8, p=1
    )
    return hmac.compare_digest(key, base64.b64decode(key_b64))
