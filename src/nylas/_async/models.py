"""Models with their I/O: each instance remembers its client and takes the server's reply
after every write, so what you read afterwards is what the server stored."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from nylas._query import to_params
from nylas._transport.config import path_id
from nylas._transport.request import Request, Upload
from nylas.client.errors import FileUploadError
from nylas.models import fields
from nylas.models._base import ModelData
from nylas.webhooks import verify_webhook_signature

if TYPE_CHECKING:
    from nylas._async.client import AsyncAPIClient
    from nylas._async.collections import Collection

T = TypeVar("T", bound="Model")
U = TypeVar("U", bound="_Updatable")


class Model(ModelData):
    _client: AsyncAPIClient

    @classmethod
    def _build(cls: type[T], client: AsyncAPIClient, data: dict[str, Any]) -> T:
        obj = cls.from_wire(data)
        obj._client = client
        return obj

    @classmethod
    def _new(cls: type[T], client: AsyncAPIClient, **attrs: Any) -> T:
        obj = cls(**attrs)
        obj._client = client
        return obj

    def _url(self, suffix: str = "") -> str:
        if not self.id:
            raise ValueError(f"this {type(self).__name__} has no id yet: save() it first")
        return f"{type(self)._path}/{path_id(self.id)}{suffix}"

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        reply = await self._client._send(Request(method, path, **kwargs))
        return reply.json()

    async def _apply(self, method: str, path: str, **kwargs: Any) -> None:
        data = await self._call(method, path, **kwargs)
        if isinstance(data, list) and data:
            data = data[0]
        if isinstance(data, dict):
            self._load(data)

    async def reload(self: T) -> T:
        """Fetch the current state from the server."""
        await self._apply("GET", self._url())
        return self


class Savable(Model):
    async def save(self: T, **query: Any) -> T:
        """Create (POST) or update (PUT) on the server; query params such as
        `notify_participants='true'` go in the URL."""
        params = to_params(query)
        if self.id:
            await self._apply("PUT", self._url(), json=self.as_json(), params=params)
        else:
            await self._apply("POST", type(self)._path, json=self.as_json(), params=params)
        return self

    async def delete(self, **query: Any) -> None:
        await self._call("DELETE", self._url(), params=to_params(query))


class _Updatable(Model):
    """Flag and folder/label changes shared by threads and messages."""

    async def _update(self: U, **changes: Any) -> U:
        await self._apply("PUT", self._url(), json=changes)
        return self

    async def mark_as_read(self: U) -> U:
        return await self._update(unread=False)

    async def mark_as_unread(self: U) -> U:
        return await self._update(unread=True)

    async def star(self: U) -> U:
        return await self._update(starred=True)

    async def unstar(self: U) -> U:
        return await self._update(starred=False)

    def _label_ids(self) -> list[str]:
        labels = self.__dict__.get("labels") or []
        return [label["id"] for label in labels if isinstance(label, dict)]

    async def update_labels(self: U, label_ids: Iterable[str]) -> U:
        """Set the complete label set (Gmail accounts)."""
        return await self._update(label_ids=list(label_ids))

    async def add_labels(self: U, label_ids: Iterable[str]) -> U:
        current = self._label_ids()
        wanted = current + [i for i in label_ids if i not in current]
        return await self.update_labels(wanted)

    async def add_label(self: U, label_id: str) -> U:
        return await self.add_labels([label_id])

    async def remove_labels(self: U, label_ids: Iterable[str]) -> U:
        unwanted = set(label_ids)
        return await self.update_labels([i for i in self._label_ids() if i not in unwanted])

    async def remove_label(self: U, label_id: str) -> U:
        return await self.remove_labels([label_id])

    async def update_folder(self: U, folder_id: str) -> U:
        """Move to another folder (folder accounts); returns the updated object."""
        return await self._update(folder_id=folder_id)


class Account(fields.AccountFields, Model):
    """The account behind the token (`client.account`), or one of an app's accounts."""

    def _app_url(self, suffix: str = "") -> str:
        app_id = self._client.app_id
        if not app_id:
            raise ValueError("this needs a client created with app_id and app_secret")
        return f"/a/{path_id(app_id)}/accounts/{path_id(self.id or '')}{suffix}"

    async def _app_call(self, suffix: str, body: Any = None) -> Any:
        return await self._call("POST", self._app_url(suffix), json=body, auth="app")

    async def upgrade(self) -> Account:
        self._load(await self._app_call("/upgrade"))
        return self

    async def downgrade(self) -> Account:
        self._load(await self._app_call("/downgrade"))
        return self

    async def revoke_all(self, keep_access_token: str | None = None) -> None:
        body = {"keep_access_token": keep_access_token} if keep_access_token else {}
        await self._app_call("/revoke-all", body)

    async def token_info(self, access_token: str | None = None) -> dict[str, Any]:
        token = access_token or self._client.access_token
        result: dict[str, Any] = await self._app_call("/token-info", {"access_token": token})
        return result


class Message(fields.MessageFields, _Updatable):
    @property
    async def raw(self) -> bytes:
        """The RFC 822 bytes (`UnSyncedError` while the server has not got them yet)."""
        reply = await self._client._send(
            Request(
                "GET",
                f"/messages/{path_id(self.id or '')}",
                headers={"Accept": "message/rfc822"},
                error_statuses=frozenset({202}),
            )
        )
        return reply.content

    def create_reply(self) -> Draft:
        """A new local draft answering this message, in its thread."""
        subject = self.subject or ""
        if not subject.lower().startswith("re:"):
            subject = f"Re: {subject}"
        return Draft._new(
            self._client,
            reply_to_message_id=self.id,
            thread_id=self.thread_id,
            subject=subject,
            to=list(self.reply_to or self.from_ or []),
        )


class Thread(fields.ThreadFields, _Updatable):
    @property
    def messages(self) -> Collection[Message]:
        return self._client.messages.where(thread_id=self.id)

    @property
    def drafts(self) -> Collection[Draft]:
        return self._client.drafts.where(thread_id=self.id)

    def create_reply(self) -> Draft:
        return Draft._new(self._client, thread_id=self.id, subject=self.subject)


class Draft(fields.DraftFields, Savable):
    async def save(self: T, **query: Any) -> T:
        body = self.as_json()
        body.setdefault("file_ids", [])
        if self.id:
            await self._apply("PUT", self._url(), json=body, params=to_params(query))
        else:
            await self._apply("POST", "/drafts", json=body, params=to_params(query))
        return self

    async def attach(self, file: File) -> None:
        """Add a file (uploaded first if it has no id yet)."""
        if not file.id:
            await file.save()
        ids = list(self.file_ids or [])
        if file.id not in ids:
            ids.append(file.id or "")
        self.file_ids = ids

    def detach(self, file: File | str) -> None:
        file_id = file if isinstance(file, str) else file.id
        self.file_ids = [i for i in (self.file_ids or []) if i != file_id]

    async def send(self) -> Message:
        """Send (the saved draft by id and version, or this object inline); returns the
        sent message. The draft takes the sent message's state too."""
        if self.id:
            body: dict[str, Any] = {"draft_id": self.id, "version": self.version}
            if self.tracking is not None:
                body["tracking"] = self.tracking
        else:
            body = self.as_json()
        data = await self._call("POST", "/send", json=body)
        self._load(data)
        return Message._build(self._client, data)

    async def send_raw(self, mime: str | bytes) -> Message:
        """Send a complete RFC 822 message as it is."""
        return await self._client.send_raw(mime)

    async def delete(self, **query: Any) -> None:
        await self._call(
            "DELETE", self._url(), json={"version": self.version}, params=to_params(query)
        )


class File(fields.FileFields, Model):
    """An uploaded file or attachment. Upload from `data` (str or bytes) or from `stream` (an
    open file, text or binary; streamed, never read whole)."""

    @property
    def stream(self) -> Any:
        """The file object to upload, while one is set; otherwise `iter_bytes` (so
        `file.stream()` iterates the downloaded content in chunks)."""
        pending = self.__dict__.get("_upload_stream")
        return pending if pending is not None else self.iter_bytes

    @stream.setter
    def stream(self, value: Any) -> None:
        self.__dict__["_upload_stream"] = value

    async def save(self) -> File:
        source = self.__dict__.get("_upload_stream")
        if source is None:
            source = self.__dict__.get("data")
        if source is None:
            raise FileUploadError("Set `data` or `stream` on the file before saving it.")
        filename = self.filename or os.path.basename(str(getattr(source, "name", ""))) or "file"
        upload = Upload(filename, source, self.content_type or "application/octet-stream")
        await self._apply("POST", "/files", upload=upload)
        self.__dict__.pop("_upload_stream", None)
        return self

    async def download(self) -> bytes:
        reply = await self._client._send(Request("GET", self._url("/download")))
        return reply.content

    async def iter_bytes(self, chunk_size: int = 64 * 1024) -> AsyncIterator[bytes]:
        """The content, chunk by chunk (for files too large to hold in memory)."""
        request = Request("GET", self._url("/download"))
        async for chunk in self._client._transport.iter_bytes(request, chunk_size):
            yield chunk

    async def download_to(self, path: str | os.PathLike[str]) -> str:
        """Write the content to `path` chunk by chunk; returns the path."""
        with open(path, "wb") as out:
            async for chunk in self.iter_bytes():
                out.write(chunk)
        return os.fspath(path)

    async def delete(self) -> None:
        await self._call("DELETE", self._url())


class Folder(fields.FolderFields, Savable):
    async def save(self: T, **query: Any) -> T:
        body = {"display_name": self.__dict__.get("display_name")}
        if self.id:
            await self._apply("PUT", self._url(), json=body)
        else:
            await self._apply("POST", type(self)._path, json=body)
        return self


class Label(fields.LabelFields, Folder):
    pass


class Calendar(fields.CalendarFields, Savable):
    @property
    def events(self) -> Collection[Event]:
        return self._client.events.where(calendar_id=self.id)


class Event(fields.EventFields, Savable):
    async def rsvp(self, status: str, comment: str | None = None) -> Event:
        """Answer the invitation ('yes', 'no' or 'maybe'); the event takes the new state."""
        body: dict[str, Any] = {"event_id": self.id, "status": status}
        if comment is not None:
            body["comment"] = comment
        await self._apply("POST", "/send-rsvp", json=body)
        return self

    async def generate_ics(
        self, ical_uid: str | None = None, method: str | None = None, prodid: str | None = None
    ) -> str:
        """The event as an iCalendar file (`POST /events/to-ics`): a saved event by its id,
        an unsaved one from its fields. `method` is "request" (default), "publish", "reply",
        "add", "cancel", "refresh", "counter" or "declinecounter"."""
        options = {
            k: v
            for k, v in (("ical_uid", ical_uid), ("method", method), ("prodid", prodid))
            if v is not None
        }
        body: dict[str, Any] = {"event_id": self.id} if self.id else self.as_json()
        if options:
            body["ics_options"] = options
        data = await self._call("POST", "/events/to-ics", json=body)
        return str(data["ics"])


class Contact(fields.ContactFields, Savable):
    async def get_picture(self) -> bytes:
        reply = await self._client._send(Request("GET", self._url("/picture")))
        return reply.content


class Webhook(fields.WebhookFields, Model):
    """A webhook of the client's app (`client.webhooks`); only `state` can change later."""

    # Where 5.x had it: `Webhook.verify_webhook_signature(signature, raw_body, client_secret)`.
    verify_webhook_signature = staticmethod(verify_webhook_signature)

    def _base(self) -> str:
        return f"/a/{path_id(self._client.app_id or '')}/webhooks"

    def _url(self, suffix: str = "") -> str:
        if not self.id:
            raise ValueError("this Webhook has no id yet: save() it first")
        return f"{self._base()}/{path_id(self.id)}{suffix}"

    async def save(self) -> Webhook:
        if self.id:
            await self._apply("PUT", self._url(), json={"state": self.state}, auth="app")
        else:
            body = {
                "callback_url": self.callback_url,
                "triggers": list(self.triggers or []),
                "state": self.state or "active",
            }
            await self._apply("POST", self._base(), json=body, auth="app")
        return self

    async def reload(self) -> Webhook:
        await self._apply("GET", self._url(), auth="app")
        return self

    async def delete(self) -> None:
        await self._call("DELETE", self._url(), auth="app")


class JobStatus(fields.JobStatusFields, Model):
    """Read-only (`client.job_statuses`); `reload()` fetches the current status."""

    @property
    def is_successful(self) -> bool:
        return self.status == "successful"


class OutboxJob(fields.OutboxJobFields, Model):
    """A scheduled message (`client.outbox`): change its time or content, or cancel it."""

    def _url(self, suffix: str = "") -> str:
        job_id = self.__dict__.get("job_status_id")
        if not job_id:
            raise ValueError("this OutboxJob has no job_status_id yet: send() it first")
        return f"{type(self)._path}/{path_id(job_id)}{suffix}"

    async def update(
        self,
        send_at: int | None = None,
        retry_limit_datetime: int | None = None,
        **message: Any,
    ) -> OutboxJob:
        """Reschedule (`send_at`, `retry_limit_datetime`) and/or change message fields
        (`subject`, `body`, `to`...) while the job has not been sent."""
        body = dict(message)
        if send_at is not None:
            body["send_at"] = send_at
        if retry_limit_datetime is not None:
            body["retry_limit_datetime"] = retry_limit_datetime
        await self._apply("PATCH", self._url(), json=body)
        return self

    async def cancel(self) -> OutboxJob:
        """Cancel the send (`DELETE`); the job then shows `status` "cancelled"."""
        await self._apply("DELETE", self._url())
        return self


class RoomResource(fields.RoomResourceFields, Model):
    pass


MODELS: dict[str, type[Model]] = {
    "account": Account,
    "thread": Thread,
    "message": Message,
    "draft": Draft,
    "file": File,
    "folder": Folder,
    "label": Label,
    "calendar": Calendar,
    "event": Event,
    "contact": Contact,
}
