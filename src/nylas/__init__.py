"""Python bindings for the Nylas v2 REST API.

    from nylas import APIClient
    client = APIClient(None, None, ACCESS_TOKEN, "http://localhost:5555")
    for thread in client.threads.where(unread=True, limit=5):
        print(thread.subject)

`AsyncAPIClient` has the same surface with `await` / `async for`.
"""

from nylas._async.client import AsyncAPIClient
from nylas._sync.client import APIClient
from nylas._transport.config import Timeout
from nylas._version import __version__
from nylas.client import errors
from nylas.webhooks import verify_webhook_signature

__all__ = [
    "APIClient",
    "AsyncAPIClient",
    "Timeout",
    "errors",
    "verify_webhook_signature",
    "__version__",
]
