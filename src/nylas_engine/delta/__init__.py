"""The transaction log behind /delta: written on flush (log.py), read by the delta routes."""
