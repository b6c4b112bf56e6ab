from __future__ import annotations

from collections.abc import Iterator

import pytest
from dovecot import dovecot, mailbox  # noqa: F401  (fixtures for test_dav_connect.py)
from radicale_server import Radicale
from sync_engines import SyncEngine


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Radicale]:
    server = Radicale(tmp_path_factory.mktemp("radicale")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def dav_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncEngine]:
    engine = SyncEngine(
        tmp_path_factory.mktemp("dav-engine"),
        env={
            "NYLAS_ENGINE_DAV_POLL": "1",
            "NYLAS_ENGINE_SYNC_SCAN": "0.3",
            "NYLAS_ENGINE_SYNC_RETRY": "0.5",
        },
    )
    engine.start()
    yield engine
    engine.close()
