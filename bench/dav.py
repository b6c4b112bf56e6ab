"""Initial CalDAV/CardDAV sync of N events and N contacts from a local Radicale, measured
against a bare client loop that only fetches the same objects (issue 15).

    python bench/dav.py [--count 2000] [--rounds 2]
    python bench/dav.py [--count 2000] --latency

Radicale's storage is seeded before it starts (bench/dav_seed.py: what its PUT of a whole
collection stores, checked against it, in seconds instead of minutes). The bare loop is the
engine's own WebDAV client (dav/client.py) doing a sync-collection REPORT and multigets of
100, the requests the engine makes, with nothing stored. The engine run is `DavSync`
(collections, pull, every object parsed and stored in SQLite with its delta rows) into a
fresh data directory each round; making that directory's database is setup and not timed.
Radicale lists everything once before the rounds (it reads its item cache then). Peak RSS
is this process's (`ru_maxrss` growth is printed; Radicale runs in its own process).
`--latency` runs an engine process on the same seeded account and measures the two
latencies with another client (`latency`).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_TESTS = Path(__file__).parent.parent / "tests"
sys.path[:0] = [str(_TESTS / "dav"), str(_TESTS / "sync"), str(_TESTS)]

from radicale_server import Radicale  # noqa: E402

from nylas_engine.config import Settings  # noqa: E402
from nylas_engine.context import EngineContext  # noqa: E402
from nylas_engine.dav.client import DavClient  # noqa: E402
from nylas_engine.dav.sync import DavSync  # noqa: E402
from nylas_engine.store.accounts import create_account  # noqa: E402
from nylas_engine.store.credentials import Vault  # noqa: E402
from nylas_engine.store.dav import set_dav_account  # noqa: E402


def bare_loop(url: str, user: str, password: str) -> int:
    fetched = 0
    with DavClient(user, password) as client:
        for kind, path in (("calendar", "cal/"), ("addressbook", "book/")):
            collection = f"{url}/{user}/{path}"
            rows, _token = client.sync_collection(collection, None)
            hrefs = [r.href for r in rows if r.status == 200]
            for start in range(0, len(hrefs), 100):
                fetched += len(client.multiget(collection, kind, hrefs[start : start + 100]))
    return fetched


def engine_sync(url: str, user: str, password: str) -> int:
    return sync_into(*fresh_account(url, user, password))


def fresh_account(url: str, user: str, password: str) -> tuple[EngineContext, int]:
    """A fresh data directory (database made, migrations run) with the DAV account: the
    engine's setup, not timed as part of the sync."""
    data_dir = Path(tempfile.mkdtemp(prefix="dav-bench-"))
    ctx = EngineContext.open(Settings(data_dir=data_dir))
    with ctx.db.session() as session:
        account = create_account(session, f"{user}@example.com")
        set_dav_account(
            session,
            account.id,
            caldav_url=f"{url}/",
            carddav_url=f"{url}/",
            username=user,
            sealed_password=Vault.for_data_dir(data_dir).seal_text(password),
        )
        account_id = account.id
    return ctx, account_id


def sync_into(ctx: EngineContext, account_id: int) -> int:
    sync = DavSync(ctx, account_id)
    with sync.connect() as client:
        sync.refresh_collections(client)
        return sync.pull(client)


def profile(url: str, user: str, password: str) -> None:
    import cProfile
    import pstats

    cProfile.runctx("engine_sync(url, user, password)", globals(), locals(), "/tmp/dav.prof")
    pstats.Stats("/tmp/dav.prof").sort_stats("cumulative").print_stats(35)


def latency(server: Radicale, seeded: tuple[str, str, int], poll: float, rounds: int) -> None:
    """An engine process with `NYLAS_ENGINE_DAV_POLL=poll` syncing the seeded account (its
    N events and N contacts) and a calendar "Bench" that another client makes: once the API
    shows all of them, how long until an event made through the API is on the server (seen
    by the other client), and one made by that client is in the API."""
    from dav_helpers import Phone, add_dav_account, calendar_named, eventually
    from sync_engines import SyncEngine

    engine = SyncEngine(
        Path(tempfile.mkdtemp(prefix="dav-latency-")),
        env={"NYLAS_ENGINE_DAV_POLL": str(poll), "NYLAS_ENGINE_SYNC_SCAN": "0.3"},
    ).start()
    try:
        user, password, count = seeded
        phone = Phone(server, user, password)
        calendar = phone.make_calendar("Bench")
        started = time.monotonic()
        account = add_dav_account(engine, server, user, password)
        with engine.client(account["id"]) as api:

            def synced() -> bool:
                counts = [
                    api.get(path, params={"view": "count"}).json()["count"]
                    for path in ("/events", "/contacts")
                ]
                return counts == [count, count] and calendar_named(api, "Bench") is not None

            eventually(synced, "the initial sync", 600)
            print(
                f"engine process: {count} events + {count} contacts in the API"
                f" {time.monotonic() - started:.1f} s after `accounts add`"
            )
            listed = calendar_named(api, "Bench")
            assert listed is not None
            to_phone, to_api = [], []
            for n in range(rounds):
                when = {"start_time": 1900000000 + n * 3600, "end_time": 1900001800 + n * 3600}
                t = time.monotonic()
                api.post(
                    "/events", json={"calendar_id": listed["id"], "title": f"api {n}", "when": when}
                )
                eventually(
                    lambda n=n: f"api {n}" in phone.events_by_title(calendar), "on the phone"
                )
                to_phone.append(time.monotonic() - t)
                t = time.monotonic()
                calendar.save_event(
                    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\n"
                    f"UID:phone-{n}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20300101T1{n}0000Z\r\n"
                    f"SUMMARY:phone {n}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
                )
                eventually(
                    lambda n=n: api.get("/events", params={"title": f"phone {n}"}).json(),
                    "in the API",
                    poll + 30,
                )
                to_api.append(time.monotonic() - t)
        print(f"API write on the server (other client sees it): max {max(to_phone):.2f} s")
        print(f"other client's write in the API (poll {poll:g} s): max {max(to_api):.2f} s")
    finally:
        engine.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="cProfile one engine sync")
    parser.add_argument(
        "--latency", action="store_true", help="only the latencies (engine process, same data)"
    )
    args = parser.parse_args()
    server = Radicale(Path(tempfile.mkdtemp(prefix="radicale-bench-"))).configure()
    user, password = server.add_user()
    started = time.monotonic()
    # in a process of its own: this one's peak RSS is the engine's (and the bare loop's)
    seeder = [sys.executable, str(Path(__file__).with_name("dav_seed.py"))]
    subprocess.run([*seeder, str(server.config), user, str(args.count)], check=True)
    print(
        f"seeded {args.count} events + {args.count} contacts into Radicale's storage"
        f" in {time.monotonic() - started:.1f} s"
    )
    server.start()
    try:
        if args.latency:
            latency(server, (user, password, args.count), poll=5.0, rounds=5)
            return
        bare_loop(server.url, user, password)  # Radicale builds its cache
        if args.profile:
            profile(server.url, user, password)
            return
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        bare, engine, setup = [], [], []
        for _ in range(args.rounds):
            t = time.monotonic()
            fetched = bare_loop(server.url, user, password)
            bare.append(time.monotonic() - t)
            t = time.monotonic()
            ready = fresh_account(server.url, user, password)
            setup.append(time.monotonic() - t)
            t = time.monotonic()
            stored = sync_into(*ready)
            engine.append(time.monotonic() - t)
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"bare client loop: {min(bare):.2f} s ({fetched} objects fetched)")
        print(f"engine initial sync: {min(engine):.2f} s ({stored} objects stored)")
        print(f"ratio engine/bare: {min(engine) / min(bare):.2f}x")
        print(f"(not timed: a fresh database's setup, {min(setup):.2f} s)")
        print(
            f"peak RSS of this process: {rss_after / 1024:.0f} MiB"
            f" (after the warm-up: {rss_before / 1024:.0f} MiB)"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
