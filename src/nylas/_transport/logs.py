"""Logging through `logging.getLogger("nylas")`: silent by default, `NYLAS_LOG=debug` (or
`info`) adds a stderr handler. Credentials never reach the log."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

logger = logging.getLogger("nylas")
logger.addHandler(logging.NullHandler())

SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_configured = False


def setup_from_env() -> None:
    """Honour `NYLAS_LOG` once per process (called when a client is created)."""
    global _configured
    if _configured:
        return
    _configured = True
    level = os.environ.get("NYLAS_LOG", "").strip().lower()
    if level not in ("debug", "info"):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("[%(asctime)s %(name)s %(levelname)s] %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if level == "debug" else logging.INFO)


def redact(headers: Mapping[str, str]) -> dict[str, str]:
    return {
        name: ("<redacted>" if name.lower() in SECRET_HEADERS else value)
        for name, value in headers.items()
    }
