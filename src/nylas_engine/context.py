"""What a running engine shares between requests: settings, database, blob store."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, cast

from nylas_engine.config import Settings
from nylas_engine.store.blobs import BlobStore
from nylas_engine.store.db import Database
from nylas_engine.store.private import private_dir

if TYPE_CHECKING:
    from nylas_engine.store.credentials import Vault


@dataclass
class EngineContext:
    settings: Settings
    db: Database
    blobs: BlobStore

    @classmethod
    def open(cls, settings: Settings) -> EngineContext:
        private_dir(settings.data_dir)
        database = Database(settings.database_url, pool_size=settings.db_pool_size)
        if settings.blobs_url:
            from nylas_engine.store.s3_blobs import S3BlobStore

            # The same methods as the local store (duck-typed; see store/s3_blobs.py).
            s3 = cast(BlobStore, S3BlobStore.from_url(settings.blobs_url))
            return cls(settings, database, s3)
        return cls(settings, database, BlobStore(settings.blob_dir))

    @cached_property
    def vault(self) -> Vault:
        """What seals mail passwords and client secrets (the key: see store.credentials).
        Made once: with a passphrase in the environment, the key is derived by scrypt."""
        from nylas_engine.store.credentials import Vault

        return Vault.for_data_dir(self.settings.data_dir)
