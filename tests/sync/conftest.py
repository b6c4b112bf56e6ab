"""Fixtures for the IMAP sync tests: a real Dovecot (see dovecot.py), a real Cyrus (cyrus.py) and
engines that sync them.

* `offline_engine`: serves the API but runs no sync workers; tests drive the sync with
  `nylas-engine sync --once` and read the results over HTTP.
* `sync_engine`: syncs in the background as `nylas-engine serve` does for users, with a short
  poll interval and account scan so tests see changes quickly.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cyrus import cyrus  # noqa: F401  (fixture)
from dovecot import Dovecot, dovecot, mailbox, smtp_relay  # noqa: F401  (fixtures)
from sync_engines import SyncEngine

# An old server: no CONDSTORE, QRESYNC, MOVE or UIDPLUS, so the write-back compares flags UID
# by UID, moves with COPY + \Deleted + EXPUNGE, and expunges without naming UIDs.
OLDEST_CAPABILITIES = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ SPECIAL-USE"


@pytest.fixture(scope="session")
def oldest_dovecot() -> Iterator[Dovecot]:
    server = Dovecot(capabilities=OLDEST_CAPABILITIES).start()
    yield server
    server.stop()


@pytest.fixture(params=["modern", "oldest"])
def server(request: pytest.FixtureRequest) -> Dovecot:
    """Each test that takes it runs twice: on the shared Dovecot, and on the oldest one."""
    found: Dovecot = request.getfixturevalue(
        "dovecot" if request.param == "modern" else "oldest_dovecot"
    )
    return found


@pytest.fixture(scope="session")
def offline_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncEngine]:
    engine = SyncEngine(tmp_path_factory.mktemp("offline"), env={"NYLAS_ENGINE_SYNC": "0"})
    engine.start()
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def sync_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncEngine]:
    engine = SyncEngine(
        tmp_path_factory.mktemp("syncing"),
        env={
            "NYLAS_ENGINE_SYNC_POLL": "2",
            "NYLAS_ENGINE_SYNC_PASS_FACTOR": "1",  # the tests' full passes: every 2 s
            "NYLAS_ENGINE_SYNC_SCAN": "0.5",
            "NYLAS_ENGINE_SYNC_RETRY": "0.5",
        },
    )
    engine.start()
    yield engine
    engine.close()
