"""Python bindings for the Nylas v2 REST API."""

__version__ = "6.0.0.dev0"
