"""What a running engine shares between requests: settings, database, blob store."""

from __future__ import annotations

from dataclasses import dataclass

from nylas_engine.config import Settings
from nylas_engine.store.blobs import BlobStore
from nylas_engine.store.db import Database


@dataclass
class EngineContext:
    settings: Settings
    db: Database
    blobs: BlobStore

    @classmethod
    def open(cls, settings: Settings) -> EngineContext:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return cls(settings, Database(settings.database_url), BlobStore(settings.blob_dir))
