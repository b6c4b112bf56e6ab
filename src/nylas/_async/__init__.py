"""The hand-written async source. `scripts/unasync.py` generates `nylas._sync` from it."""
