"""`nylas-engine resources add|remove|list`: the room resources `GET /resources` lists."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any


def add_resources_commands(sub: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    """The commands, made with the CLI's `command(parent, name, help)` (which adds the
    global options to each)."""
    resources = command(sub, "resources", "manage room resources (GET /resources)")
    actions = resources.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = command(actions, "add", "add a room resource, or change the one with that email")
    p.add_argument("email", help="the room's email address (what invitations and availability use)")
    p.add_argument("--name", help="display name, e.g. 'Training Room 1A'")
    p.add_argument("--capacity", type=int, help="how many people it seats")
    p.add_argument("--building", help="building name")
    p.add_argument("--floor", dest="floor_name", help="floor name, e.g. '7' or 'Mezzanine'")
    p.add_argument("--floor-number", type=int, help="floor number")
    p.add_argument("--json", action="store_true", help="print the resource as JSON")
    p.set_defaults(func=cmd_resources_add)
    p = command(actions, "remove", "remove the room resource with that email")
    p.add_argument("email", help="the room's email address")
    p.set_defaults(func=cmd_resources_remove)
    p = command(actions, "list", "list room resources")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_resources_list)


def _open(args: argparse.Namespace) -> Any:
    from nylas_engine.cli import _open as open_engine

    return open_engine(args)


def cmd_resources_add(args: argparse.Namespace) -> None:
    from nylas_engine.api.routes.resources import resource_json
    from nylas_engine.calendar.fields import is_email  # icalendar: not for every command
    from nylas_engine.store import resources

    if not is_email(args.email):
        raise SystemExit(f"not an email address: {args.email}")
    if args.capacity is not None and args.capacity < 0:
        raise SystemExit("--capacity must not be negative")
    fields = {
        name: getattr(args, name)
        for name in ("name", "capacity", "building", "floor_name", "floor_number")
        if getattr(args, name) is not None
    }
    with _open(args).db.session() as session:
        data = resource_json(resources.put(session, args.email, fields))
    print(json.dumps(data) if args.json else f"{data['email']}  {data['name']}")


def cmd_resources_remove(args: argparse.Namespace) -> None:
    from nylas_engine.store import resources

    with _open(args).db.session() as session:
        if not resources.remove(session, args.email):
            raise SystemExit(f"no room resource {args.email}")
    print(f"removed {args.email}")


def cmd_resources_list(args: argparse.Namespace) -> None:
    from nylas_engine.api.routes.resources import resource_json
    from nylas_engine.store import resources

    with _open(args).db.session() as session:
        rows = [resource_json(r) for r in resources.all_resources(session)]
    if args.json:
        print(json.dumps(rows))
        return
    for row in rows:
        print(f"{row['email']}  {row['name']}  capacity={row['capacity']}  {row['building'] or ''}")
