"""The SDK's I/O code: `nylas._async` is written by hand, `nylas._sync` is generated from it
by `scripts/unasync.py` (CI checks that it is current)."""
