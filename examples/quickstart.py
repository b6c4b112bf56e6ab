"""Read the demo engine's inbox with the SDK.

    make demo                      # terminal 1: serves http://127.0.0.1:5555/
    python examples/quickstart.py  # terminal 2

In open mode the account id is the access token, so this finds it through /accounts.
"""

from __future__ import annotations

import os
import sys

from nylas import APIClient

API_SERVER = os.environ.get("NYLAS_API_SERVER", "http://127.0.0.1:5555/")


def main() -> int:
    with APIClient(None, None, None, API_SERVER) as admin:
        first = admin.accounts.first()
        if first is None:
            print("no accounts: run `nylas-engine demo` first", file=sys.stderr)
            return 1
        token = first.id

    with APIClient(None, None, token, API_SERVER) as client:
        account = client.account
        print(f"{account.email_address} ({account.provider}), sync: {account.sync_state}")
        print(f"{client.threads.count()} threads, {client.messages.count()} messages")
        print("Five most recent unread threads in the inbox:")
        for thread in client.threads.where(in_="inbox", unread=True, limit=5):
            names = ", ".join(p["name"] or p["email"] for p in thread.participants[:3])
            print(f"  - {thread.subject!r} with {names}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
