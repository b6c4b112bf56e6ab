"""`AsyncAPIClient`: configuration, credentials and the transport; entry point to every
collection. The sync `APIClient` is generated from this file."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from nylas._async.collections import Collection, Outbox
from nylas._async.deltas import Deltas
from nylas._async.models import (
    MODELS,
    Account,
    Calendar,
    Contact,
    Draft,
    Event,
    File,
    Folder,
    JobStatus,
    Label,
    Message,
    Model,
    RoomResource,
    Thread,
    Webhook,
)
from nylas._transport import logs
from nylas._transport.config import (
    DEFAULT_API_SERVER,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    ClientConfig,
    TimeoutLike,
    path_id,
)
from nylas._transport.request import Reply, Request

if TYPE_CHECKING:
    import httpx

    from nylas._async.transport import Transport

_UNSET: Any = object()


class AsyncAPIClient:
    """A client for one Nylas v2 API server.

    `AsyncAPIClient(app_id, app_secret, access_token, api_server)`; plain `http://` servers
    (a local engine) are fine. `timeout` (seconds or `nylas.Timeout`) and `max_retries` apply
    to every call; `http_client` lets you bring your own `httpx.AsyncClient`.
    """

    def __init__(
        self,
        app_id: str | None = None,
        app_secret: str | None = None,
        access_token: str | None = None,
        api_server: str = DEFAULT_API_SERVER,
        *,
        timeout: TimeoutLike = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: httpx.AsyncClient | None = None,
        default_headers: Mapping[str, str] | None = None,
    ) -> None:
        if not api_server.startswith(("http://", "https://")):
            raise ValueError("api_server must be an http:// or https:// URL")
        logs.setup_from_env()
        config = ClientConfig(
            api_server=api_server.rstrip("/"),
            app_id=app_id,
            app_secret=app_secret,
            access_token=access_token,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=tuple((default_headers or {}).items()),
        )
        # Imported here so that `import nylas` does not pay for httpx.
        from nylas._async.transport import Transport

        self._transport: Transport = Transport(config, http_client)

    # ------------------------------------------------------------------------ configuration

    @property
    def _config(self) -> ClientConfig:
        return self._transport.config

    @property
    def app_id(self) -> str | None:
        return self._config.app_id

    @property
    def app_secret(self) -> str | None:
        return self._config.app_secret

    @property
    def api_server(self) -> str:
        return self._config.api_server

    @property
    def access_token(self) -> str | None:
        return self._config.access_token

    @access_token.setter
    def access_token(self, value: str | None) -> None:
        self._transport.config = self._config.evolve(access_token=value)

    def with_options(
        self,
        *,
        access_token: str | None = _UNSET,
        timeout: TimeoutLike = _UNSET,
        max_retries: int = _UNSET,
    ) -> AsyncAPIClient:
        """A client with other settings that shares this one's connection pool."""
        changes = {
            name: value
            for name, value in (
                ("access_token", access_token),
                ("timeout", timeout),
                ("max_retries", max_retries),
            )
            if value is not _UNSET
        }
        twin = object.__new__(type(self))
        twin._transport = self._transport.derive(self._config.evolve(**changes))
        return twin

    async def close(self) -> None:
        """Close the connection pool (unless it belongs to an `http_client` you passed)."""
        await self._transport.close()

    async def __aenter__(self) -> AsyncAPIClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.api_server}>"

    # ----------------------------------------------------------------------------- internals

    async def _send(self, request: Request) -> Reply:
        return await self._transport.request(request)

    def _model_for(self, object_type: str, data: dict[str, Any]) -> Model | None:
        model = MODELS.get(object_type)
        return model._build(self, data) if model else None

    # ---------------------------------------------------------------------------- OAuth

    def authentication_url(
        self,
        redirect_uri: str,
        login_hint: str = "",
        state: str = "",
        scopes: Iterable[str] | str | None = ("email", "calendar", "contacts"),
        provider: str | None = None,
        response_type: str = "code",
    ) -> str:
        """The URL to send a user's browser to for the OAuth consent (hosted-style flow)."""
        params = {
            "client_id": self.app_id or "",
            "response_type": response_type,
            "login_hint": login_hint,
            "state": state,
            "redirect_uri": redirect_uri,
        }
        if scopes:
            params["scopes"] = scopes if isinstance(scopes, str) else ",".join(scopes)
        if provider:
            params["provider"] = provider
        return f"{self.api_server}/oauth/authorize?{urlencode(params)}"

    async def token_for_code(self, code: str) -> str:
        """Exchange an authorization code; the token is stored on the client and returned."""
        form = {
            "client_id": self.app_id or "",
            "client_secret": self.app_secret or "",
            "grant_type": "authorization_code",
            "code": code,
        }
        reply = await self._send(Request("POST", "/oauth/token", form=form, auth="none"))
        token = str(reply.json()["access_token"])
        self.access_token = token
        return token

    async def revoke_token(self) -> None:
        """Revoke the client's access token and forget it."""
        await self._send(Request("POST", "/oauth/revoke"))
        self.access_token = None

    async def _account_id(self) -> str:
        account = await self.account
        return account.id or ""

    async def revoke_all_tokens(self, keep_access_token: str | None = None) -> None:
        """Revoke every token of this client's account (except `keep_access_token`)."""
        account_id = await self._account_id()
        body = {"keep_access_token": keep_access_token} if keep_access_token else {}
        await self._send(
            Request(
                "POST",
                f"/a/{path_id(self.app_id or '')}/accounts/{path_id(account_id)}/revoke-all",
                json=body,
                auth="app",
            )
        )
        if keep_access_token != self.access_token:
            self.access_token = None

    async def token_info(self, access_token: str | None = None) -> dict[str, Any]:
        """Scopes and state of a token of this client's account (default: the client's)."""
        account_id = await self._account_id()
        reply = await self._send(
            Request(
                "POST",
                f"/a/{path_id(self.app_id or '')}/accounts/{path_id(account_id)}/token-info",
                json={"access_token": access_token or self.access_token},
                auth="app",
            )
        )
        result: dict[str, Any] = reply.json()
        return result

    # ----------------------------------------------------------------------- account(s)

    @property
    async def account(self) -> Account:
        """The account of the access token, fetched from `/account` on every read."""
        reply = await self._send(Request("GET", "/account"))
        data = reply.json()
        if isinstance(data, list):
            data = data[0]
        return Account._build(self, data)

    @property
    def accounts(self) -> Collection[Account]:
        """All accounts: the app's (`/a/{app_id}/accounts`, Basic auth with the app secret)
        when the client has app credentials; otherwise the open engine's `/accounts`."""
        if self.app_id and self.app_secret:
            path = f"/a/{path_id(self.app_id)}/accounts"
            return Collection(self, Account, path=path, auth="app")
        return Collection(self, Account, path="/accounts", auth="none")

    # ------------------------------------------------------------------------ collections

    @property
    def threads(self) -> Collection[Thread]:
        return Collection(self, Thread)

    @property
    def messages(self) -> Collection[Message]:
        return Collection(self, Message)

    @property
    def drafts(self) -> Collection[Draft]:
        return Collection(self, Draft)

    @property
    def files(self) -> Collection[File]:
        return Collection(self, File)

    @property
    def folders(self) -> Collection[Folder]:
        return Collection(self, Folder)

    @property
    def labels(self) -> Collection[Label]:
        return Collection(self, Label)

    @property
    def calendars(self) -> Collection[Calendar]:
        return Collection(self, Calendar)

    @property
    def events(self) -> Collection[Event]:
        return Collection(self, Event)

    @property
    def contacts(self) -> Collection[Contact]:
        return Collection(self, Contact)

    @property
    def webhooks(self) -> Collection[Webhook]:
        """The app's webhooks (`/a/{app_id}/webhooks`, needs app_id and app_secret)."""
        return Collection(
            self, Webhook, path=f"/a/{path_id(self.app_id or '')}/webhooks", auth="app"
        )

    @property
    def job_statuses(self) -> Collection[JobStatus]:
        return Collection(self, JobStatus)

    @property
    def outbox(self) -> Outbox:
        return Outbox(self)

    @property
    def room_resources(self) -> Collection[RoomResource]:
        return Collection(self, RoomResource)

    # ------------------------------------------------------------------- free-busy, availability

    async def free_busy(
        self,
        emails: Iterable[str],
        start_at: int,
        end_at: int,
        calendars: Iterable[Mapping[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """Busy time slots per email (and per `calendars` entry: `{"account_id",
        "calendar_ids"}`) between two Unix times (`POST /calendars/free-busy`)."""
        body: dict[str, Any] = {
            "emails": list(emails),
            "start_time": start_at,
            "end_time": end_at,
        }
        if calendars is not None:
            body["calendars"] = [dict(c) for c in calendars]
        reply = await self._send(Request("POST", "/calendars/free-busy", json=body))
        return list(reply.json())

    async def availability(
        self,
        emails: Iterable[str],
        duration: int,
        interval: int,
        start_at: int,
        end_at: int,
        **options: Any,
    ) -> dict[str, Any]:
        """Times everyone in `emails` is free for a `duration`-minute meeting, starting every
        `interval` minutes (`POST /calendars/availability`). `options`: `free_busy`,
        `open_hours`, `calendars`, `buffer`, `round_robin`, `tentative_busy`."""
        body = _availability_body(list(emails), duration, interval, start_at, end_at, options)
        reply = await self._send(Request("POST", "/calendars/availability", json=body))
        return dict(reply.json())

    async def consecutive_availability(
        self,
        emails: Iterable[Iterable[str]],
        duration: int,
        interval: int,
        start_at: int,
        end_at: int,
        **options: Any,
    ) -> list[Any]:
        """Back-to-back meetings, one per group of `emails`, in any order
        (`POST /calendars/availability/consecutive`); options as for `availability`."""
        groups = [list(group) for group in emails]
        body = _availability_body(groups, duration, interval, start_at, end_at, options)
        reply = await self._send(Request("POST", "/calendars/availability/consecutive", json=body))
        return list(reply.json())

    @property
    def deltas(self) -> Deltas:
        return Deltas(self)

    async def send_raw(self, mime: str | bytes) -> Message:
        """Send a complete RFC 822 message (`POST /send` with `message/rfc822`)."""
        content = mime.encode("utf-8") if isinstance(mime, str) else mime
        reply = await self._send(
            Request("POST", "/send", content=content, headers={"Content-Type": "message/rfc822"})
        )
        return Message._build(self, reply.json())


def _availability_body(
    emails: list[Any],
    duration: int,
    interval: int,
    start_at: int,
    end_at: int,
    options: Mapping[str, Any],
) -> dict[str, Any]:
    return {
        "emails": emails,
        "duration_minutes": duration,
        "interval_minutes": interval,
        "start_time": start_at,
        "end_time": end_at,
        **{k: v for k, v in options.items() if v is not None},
    }
