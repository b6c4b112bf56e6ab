"""An open-source server for the Nylas v2 REST API, on an embedded store."""

__version__ = "0.1.0"
