"""Model classes. The sync ones are re-exported here; async twins live in `nylas._async.models`."""

from nylas._sync.models import (
    Account,
    Calendar,
    Contact,
    Draft,
    Event,
    File,
    Folder,
    Label,
    Message,
    Model,
    Thread,
    Webhook,
)
from nylas.models.delta import Delta, DeltaPage

__all__ = [
    "Account",
    "Calendar",
    "Contact",
    "Delta",
    "DeltaPage",
    "Draft",
    "Event",
    "File",
    "Folder",
    "Label",
    "Message",
    "Model",
    "Thread",
    "Webhook",
]
