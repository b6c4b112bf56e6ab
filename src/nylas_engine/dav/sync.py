"""One account's CalDAV/CardDAV sync: log in, match the collections, pull what changed.

`DavSync.pull` brings every collection up to date: with `sync-collection` (RFC 6578) where
the collection has a sync token, else by comparing every object's ETag when its CTag moved.
Changed objects are fetched with a multiget in batches, each batch applied and committed
on its own, and the collection's new token (or CTag) written last, after all of them: a
sync cut short (a lost connection, a killed process) runs again from the old token, and
re-applying an object is harmless (dav/apply.py). No session waits on the network: the
next batch is fetched in a thread while this one is stored (`DavClient.multiget_batches`),
and a transaction lasts as long as storing its batch, not a request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from nylas_engine.context import EngineContext
from nylas_engine.dav.apply import Links, apply_contact, apply_deleted, apply_event_object, link
from nylas_engine.dav.client import (
    DAV,
    BearerAuth,
    DavAuthFailed,
    DavClient,
    DavError,
    DavUnreachable,
    Response,
    q,
)
from nylas_engine.dav.discovery import RemoteCollection, list_collections
from nylas_engine.oauth.tokens import TOKENS, GrantRejected, TokenUnavailable
from nylas_engine.store import calendar as calendar_store
from nylas_engine.store import dav as store
from nylas_engine.store.credentials import OAuthGrant, Vault
from nylas_engine.store.credentials import load as load_credentials
from nylas_engine.store.dav_writeback import SYNC_MARK
from nylas_engine.store.models import Account, Calendar, now
from nylas_engine.sync.hosts import policy_for

log = logging.getLogger("nylas_engine.dav")
BATCH = 100


@dataclass
class DavSync:
    ctx: EngineContext
    account_id: int
    homes: dict[str, str] = field(default_factory=dict)  # kind -> home URL
    remote: dict[str, RemoteCollection] = field(default_factory=dict)  # href -> last listing
    schedules: bool | None = None  # the server sends invitations (RFC 6638); None: not asked

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose writes came from the server (not queued to be pushed back)."""
        with self.ctx.db.session() as session:
            session.info[SYNC_MARK] = True
            yield session

    def connect(self) -> DavClient:
        with self.ctx.db.session() as session:
            account = session.get(Account, self.account_id)
            dav = store.dav_account(session, self.account_id)
            if account is None or dav is None:
                raise DavAuthFailed("the account has no CalDAV/CardDAV settings")
            username = dav.username or account.imap_username or account.email_address
            vault = Vault.for_data_dir(self.ctx.settings.data_dir)
            bearer = None
            if dav.sealed_password:
                password = vault.open_text(dav.sealed_password, "DAV password")
            else:
                mail = load_credentials(self.ctx.settings.data_dir, account)
                if mail is not None and mail.oauth is not None:
                    password, bearer = "", BearerAuth(bearer_token(mail.oauth))
                elif mail is None or not mail.imap_password:
                    raise DavAuthFailed("the account has no stored password for CalDAV/CardDAV")
                else:
                    password = mail.imap_password
            self.urls: dict[str, str | None] = {
                "calendar": dav.caldav_url,
                "addressbook": dav.carddav_url,
            }
            self.email = account.email_address
            checked = account.hosts_checked
        self.schedules = None
        settings = self.ctx.settings
        policy = policy_for(settings.auth_mode, settings.allow_mail_hosts) if checked else None
        return DavClient(username, password, policy=policy, auth=bearer)

    # ------------------------------------------------------------------ collections

    def refresh_collections(self, client: DavClient) -> None:
        """Match the server's calendars and address books with the store's: new ones get a
        calendar (or start an address book), renamed ones are renamed, gone ones go."""
        listing: dict[str, list[RemoteCollection]] = {}
        homes: dict[str, list[Response]] = {}  # listed once when both kinds share a home
        for kind, url in self.urls.items():
            if url:  # a calendar-only or contacts-only account has just one
                self.homes[kind], listing[kind] = list_collections(client, url, kind, homes)
        self.remote = {r.href: r for rows in listing.values() for r in rows}
        if self.schedules is None:  # asked once a login
            home = self.homes.get("calendar")
            self.schedules = home is not None and _auto_schedules(client, home)
        with self.session() as session:
            dav = store.dav_account(session, self.account_id)
            if dav is not None and dav.auto_schedule != self.schedules:
                dav.auto_schedule = self.schedules
            for kind, rows in listing.items():
                known = {c.href: c for c in store.collections(session, self.account_id, kind)}
                for remote in rows:
                    coll = known.pop(remote.href, None)
                    if coll is None:
                        coll = store.DavCollection(
                            account_id=self.account_id, kind=kind, href=remote.href
                        )
                        session.add(coll)
                    # Only what changed on the server since the last look is copied: a
                    # rename made through the API and not pushed yet is not undone.
                    changed = coll.id is None or (coll.display_name, coll.read_only) != (
                        remote.display_name,
                        remote.read_only,
                    )
                    coll.display_name = remote.display_name
                    coll.read_only = remote.read_only
                    if kind == "calendar":
                        self._calendar_for(session, coll, remote, changed)
                for gone in known.values():
                    self._forget_collection(session, gone)

    def _calendar_for(
        self, session: Session, coll: store.DavCollection, remote: RemoteCollection, changed: bool
    ) -> None:
        calendar = session.get(Calendar, coll.calendar_id) if coll.calendar_id else None
        name = remote.display_name or remote.href.rstrip("/").rpartition("/")[2]
        if calendar is not None and calendar.deleted_at is not None:
            return  # deleted through the API: its DELETE is queued (dav/push.py)
        if calendar is None:
            calendar = calendar_store.create_calendar(
                session,
                session.get(Account, self.account_id),  # type: ignore[arg-type]
                {"name": name, "description": remote.description, "read_only": remote.read_only},
            )
            coll.calendar_id = calendar.id
            return
        if not changed:
            return
        for attr, value in (
            ("name", name),
            ("description", remote.description),
            ("read_only", remote.read_only),
        ):
            if getattr(calendar, attr) != value:
                setattr(calendar, attr, value)

    def _forget_collection(self, session: Session, coll: store.DavCollection) -> None:
        if coll.calendar_id is not None:
            calendar = session.get(Calendar, coll.calendar_id)
            if calendar is not None and calendar.deleted_at is None:
                calendar_store.delete_calendar(session, calendar)
        else:
            ids = [o.contact_id for o in store.objects(session, coll.id).values() if o.contact_id]
            for contact in store.contacts_by_id(session, ids):
                contact.deleted_at = contact.deleted_at or now()
        session.delete(coll)
        session.flush()

    # ------------------------------------------------------------------ objects

    def pull(self, client: DavClient) -> int:
        """Sync every collection; the number of objects changed or removed."""
        with self.ctx.db.session() as session:
            colls = [(c.id, c.kind, c.href) for c in store.collections(session, self.account_id)]
        return sum(self.pull_collection(client, *c) for c in colls)

    def pull_collection(self, client: DavClient, coll_id: int, kind: str, href: str) -> int:
        with self.ctx.db.session() as session:
            coll = session.get(store.DavCollection, coll_id)
            if coll is None:
                return 0
            token, ctag = coll.sync_token, coll.ctag
        remote = self.remote.get(href)
        if remote is None:
            rows = client.propfind(
                href, [q(DAV, "sync-token"), q("http://calendarserver.org/ns/", "getctag")]
            )
            remote_token = rows[0].text(DAV, "sync-token") if rows else None
            remote_ctag = rows[0].text("http://calendarserver.org/ns/", "getctag") if rows else None
        else:
            remote_token, remote_ctag = remote.sync_token, remote.ctag
            self.remote.pop(href)  # a listing is good for one pull
        if remote_token and remote_token == token:
            return 0
        if not remote_token and remote_ctag and remote_ctag == ctag:
            return 0
        with self.ctx.db.session() as session:
            known = store.etags(session, coll_id)
        changed: dict[str, str | None] = {}
        removed: list[str] = []
        new_token: str | None = None
        if remote_token:
            try:
                rows, new_token = client.sync_collection(href, token)
                for row in rows:
                    if row.status == 404:
                        removed.append(row.href)
                    elif row.href.rstrip("/") != href.rstrip("/"):
                        changed[row.href] = row.text(DAV, "getetag")
            except DavError as exc:
                if isinstance(exc, DavAuthFailed) or exc.status not in (403, 409, 400):
                    raise
                token = None  # the server forgot our token: compare every ETag
        if not new_token:
            rows = client.propfind(href, [q(DAV, "getetag")], depth="1")
            listed = {
                r.href: r.text(DAV, "getetag")
                for r in rows
                if r.status == 200 and r.href.rstrip("/") != href.rstrip("/")
            }
            changed = listed
            removed = [h for h in known if h not in listed]
            new_token = remote_token
        todo = [h for h, etag in changed.items() if etag is None or known.get(h) != etag]
        count = 0
        for found in client.multiget_batches(href, kind, todo, BATCH):
            with self.session() as session:
                coll = session.get(store.DavCollection, coll_id)
                if coll is None:
                    return count
                objects = store.objects_at(session, coll_id, [row.href for row in found])
                links: Links = []
                with session.no_autoflush:
                    for row in found:
                        data = row.text(*(_DATA[kind]))
                        if row.status != 200 or data is None:
                            continue
                        etag = row.text(DAV, "getetag")
                        self._apply(session, coll, row.href, etag, data, objects, links)
                        count += 1
                link(session, links)
        with self.session() as session:
            coll = session.get(store.DavCollection, coll_id)
            if coll is None:
                return count
            for gone in removed:
                apply_deleted(session, coll, gone)
                count += 1
            coll.sync_token, coll.ctag = new_token, remote_ctag
        return count

    def fetch_one(
        self, client: DavClient, coll_id: int, kind: str, href: str, obj_href: str
    ) -> None:
        """Bring one object to the server's version (after a conflict), or remove it."""
        found = client.multiget(href, kind, [obj_href])
        with self.session() as session:
            coll = session.get(store.DavCollection, coll_id)
            if coll is None:
                return
            row = next((r for r in found if r.status == 200), None)
            data = row.text(*(_DATA[kind])) if row is not None else None
            if row is None or data is None:
                apply_deleted(session, coll, obj_href)
            else:
                self._apply(session, coll, row.href, row.text(DAV, "getetag"), data)

    def _apply(
        self,
        session: Session,
        coll: store.DavCollection,
        href: str,
        etag: str | None,
        data: str,
        objects: dict[str, store.DavObject] | None = None,
        links: Links | None = None,
    ) -> None:
        if coll.kind == "calendar":
            apply_event_object(session, coll, href, etag, data, objects, links)
        else:
            apply_contact(session, self.ctx.blobs, coll, href, etag, data, objects, links)


_DATA = {
    "calendar": ("urn:ietf:params:xml:ns:caldav", "calendar-data"),
    "addressbook": ("urn:ietf:params:xml:ns:carddav", "address-data"),
}


def _auto_schedules(client: DavClient, home: str) -> bool:
    """RFC 6638 §2: a server that schedules says `calendar-auto-schedule` in its DAV header."""
    try:
        return "calendar-auto-schedule" in client.features(home)
    except DavError as exc:
        if isinstance(exc, (DavAuthFailed, DavUnreachable)):
            raise
        return False  # OPTIONS refused: the engine sends the invitations


def bearer_token(grant: OAuthGrant) -> Callable[[bool], str]:
    """`fresh -> access token` for the account's OAuth grant (oauth/tokens.py, the cache the
    IMAP and SMTP logins share): a refused grant is a failed login (`invalid`), an
    unreachable token endpoint an unreachable server (backoff)."""

    def token(fresh: bool) -> str:
        try:
            return TOKENS.access_token(grant, fresh=fresh)
        except GrantRejected as exc:
            raise DavAuthFailed(f"{exc}; the account must be connected again", 401) from None
        except TokenUnavailable as exc:
            raise DavUnreachable(str(exc)) from None

    return token
