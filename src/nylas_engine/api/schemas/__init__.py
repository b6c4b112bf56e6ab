"""Pydantic descriptions of the API's request and response bodies, for `/openapi.json`.

They document what the views write and what the routes read; the routes keep parsing
bodies themselves (api/deps.py `json_object`, the store's input checks) so that the
engine's own 400 messages and its leniency (unknown fields are ignored, docs/protocol.md
§18) stay as they are. Every model allows fields it does not name.
"""
