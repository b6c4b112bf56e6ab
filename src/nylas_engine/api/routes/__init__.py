"""Route modules, one per resource. `MODULES` fixes the order they are mounted in:
more specific paths (search) before the `{id}` routes they would otherwise fall into."""

from __future__ import annotations

from importlib import import_module

from fastapi import APIRouter

MODULES = [
    "account",
    "search",
    "threads",
    "messages",
    "drafts",
    "send",
    "outbox",
    "job_statuses",
    "files",
    "categories",
    "availability",
    "calendars",
    "ics",
    "events",
    "resources",
    "contacts",
    "delta",
    "connect",
    "oauth",
    "oauth_providers",
    "apps",
]


def routers() -> list[APIRouter]:
    return [import_module(f"{__name__}.{name}").router for name in MODULES]
