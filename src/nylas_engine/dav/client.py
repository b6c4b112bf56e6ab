"""A small WebDAV client for CalDAV (RFC 4791) and CardDAV (RFC 6352) over httpx.

Request bodies are built and replies read with ElementTree, never by string pasting. The
client raises `DavAuthFailed` for a refused login (401) and `DavUnreachable` for a network
failure or a server error (5xx), which the worker turns into sync states as IMAP does;
`DavConflict` is a 412 (the object changed on the server since its ETag was read).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urljoin

import httpx

from nylas_engine.sync.hosts import HostRefused, MailHostPolicy
from nylas_engine.sync.imap import SyncError

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CARDDAV = "urn:ietf:params:xml:ns:carddav"
CS = "http://calendarserver.org/ns/"
ICAL = "http://apple.com/ns/ical/"
for _prefix, _uri in (("d", DAV), ("c", CALDAV), ("card", CARDDAV), ("cs", CS), ("ic", ICAL)):
    ET.register_namespace(_prefix, _uri)

TIMEOUT = 30.0


class DavError(Exception):
    """A request the server refused (other than a login or a conflict)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class DavAuthFailed(DavError):
    pass


class DavUnreachable(DavError):
    pass


class DavConflict(DavError):
    pass


def q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


@dataclass
class Response:
    """One <d:response> of a multistatus: its href, status and the properties found."""

    href: str
    status: int = 200
    props: dict[str, ET.Element] = field(default_factory=dict)

    def text(self, ns: str, name: str) -> str | None:
        element = self.props.get(q(ns, name))
        return None if element is None else (element.text or "")

    def hrefs(self, ns: str, name: str) -> list[str]:
        element = self.props.get(q(ns, name))
        if element is None:
            return []
        return [h.text or "" for h in element.iter(q(DAV, "href"))]

    def has(self, ns: str, name: str, child_ns: str, child: str) -> bool:
        element = self.props.get(q(ns, name))
        return element is not None and element.find(f".//{q(child_ns, child)}") is not None


class PinnedTransport(httpx.HTTPTransport):
    """Every request, redirects included, goes to an address `policy` allows for its host,
    looked up here, once per request (sync/hosts.py): a redirect or a changed DNS answer
    cannot point the engine at an address it may not reach. TLS still checks the
    certificate against the host name (`sni_hostname`)."""

    def __init__(self, policy: MailHostPolicy) -> None:
        super().__init__()
        self.policy = policy

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        try:
            addresses = self.policy.addresses(host, port, "CalDAV/CardDAV")
        except (HostRefused, SyncError) as exc:
            raise httpx.ConnectError(str(exc), request=request) from None
        if request.url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        request.url = request.url.copy_with(host=addresses[0])
        return super().handle_request(request)


class BearerAuth(httpx.Auth):
    """`Authorization: Bearer` with an OAuth access token from `token(fresh)` (RFC 6750), as
    Google's CalDAV/CardDAV want: a 401 asks once for a fresh token and tries again."""

    def __init__(self, token: Callable[[bool], str]) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token(False)}"
        reply = yield request
        if reply.status_code == 401:
            request.headers["Authorization"] = f"Bearer {self.token(True)}"
            yield request


class DavClient:
    """`policy`: the address policy for an account whose DAV hosts a caller chose. `auth`:
    a `BearerAuth` for an OAuth account; else `username` and `password` log in (Basic)."""

    def __init__(
        self,
        username: str,
        password: str,
        timeout: float = TIMEOUT,
        policy: MailHostPolicy | None = None,
        auth: httpx.Auth | None = None,
    ) -> None:
        self._http = httpx.Client(
            auth=auth or httpx.BasicAuth(username, password),
            timeout=timeout,
            follow_redirects=True,
            transport=PinnedTransport(policy) if policy is not None else None,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> DavClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transport

    def request(
        self,
        method: str,
        url: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200, 201, 204, 207),
    ) -> httpx.Response:
        try:
            reply = self._http.request(method, url, content=body, headers=headers or {})
        except httpx.TransportError as exc:
            raise DavUnreachable(f"cannot reach the DAV server: {type(exc).__name__}") from exc
        if reply.status_code == 401:
            raise DavAuthFailed("the DAV server refused the login", 401)
        if reply.status_code == 412:
            raise DavConflict("the object changed on the server", 412)
        if reply.status_code >= 500:
            raise DavUnreachable(f"the DAV server failed: HTTP {reply.status_code}", 503)
        if reply.status_code not in ok:
            raise DavError(f"{method} refused: HTTP {reply.status_code}", reply.status_code)
        return reply

    def _xml(self, method: str, url: str, root: ET.Element, depth: str) -> list[Response]:
        body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
        headers = {"Content-Type": "application/xml; charset=utf-8", "Depth": depth}
        reply = self.request(method, url, body, headers, ok=(207,))
        return parse_multistatus(str(reply.url), reply.content)

    # ------------------------------------------------------------------ WebDAV verbs

    def features(self, url: str) -> set[str]:
        """The compliance classes of the DAV header in the reply to OPTIONS (RFC 4918 §10.1)."""
        reply = self.request("OPTIONS", url, ok=(200, 204))
        header = ",".join(reply.headers.get_list("DAV"))
        return {part.strip().lower() for part in header.split(",") if part.strip()}

    def propfind(self, url: str, props: list[str], depth: str = "0") -> list[Response]:
        root = ET.Element(q(DAV, "propfind"))
        prop = ET.SubElement(root, q(DAV, "prop"))
        for name in props:
            ET.SubElement(prop, name)
        return self._xml("PROPFIND", url, root, depth)

    def sync_collection(self, url: str, token: str | None) -> tuple[list[Response], str | None]:
        """RFC 6578: what changed since `token` (None: everything), and the new token."""
        root = ET.Element(q(DAV, "sync-collection"))
        ET.SubElement(root, q(DAV, "sync-token")).text = token or ""
        ET.SubElement(root, q(DAV, "sync-level")).text = "1"
        ET.SubElement(ET.SubElement(root, q(DAV, "prop")), q(DAV, "getetag"))
        body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
        headers = {"Content-Type": "application/xml; charset=utf-8", "Depth": "1"}
        reply = self.request("REPORT", url, body, headers, ok=(207,))
        tree = ET.fromstring(reply.content)
        new_token = tree.findtext(q(DAV, "sync-token"))
        return parse_multistatus(str(reply.url), reply.content), new_token

    def multiget(self, url: str, kind: str, hrefs: list[str]) -> list[Response]:
        """The ETag and text of these objects (calendar-multiget / addressbook-multiget)."""
        ns, report, data = (
            (CALDAV, "calendar-multiget", "calendar-data")
            if kind == "calendar"
            else (CARDDAV, "addressbook-multiget", "address-data")
        )
        root = ET.Element(q(ns, report))
        prop = ET.SubElement(root, q(DAV, "prop"))
        ET.SubElement(prop, q(DAV, "getetag"))
        ET.SubElement(prop, q(ns, data))
        for href in hrefs:
            ET.SubElement(root, q(DAV, "href")).text = httpx.URL(href).raw_path.decode()
        return self._xml("REPORT", url, root, "1")

    def multiget_batches(
        self, url: str, kind: str, hrefs: list[str], size: int
    ) -> Iterator[list[Response]]:
        """`multiget` of `hrefs` in batches of `size`, the next batch fetched (in a thread)
        while the caller stores the one yielded: the server works on it meanwhile, and the
        wait for its reply costs no time. One request at a time, so no more of the server
        than a plain loop. A batch's failure is raised where that batch is yielded."""
        batches = [hrefs[start : start + size] for start in range(0, len(hrefs), size)]
        if len(batches) < 2:
            yield from (self.multiget(url, kind, batch) for batch in batches)
            return
        with ThreadPoolExecutor(1, thread_name_prefix="dav-multiget") as ahead:
            pending = ahead.submit(self.multiget, url, kind, batches[0])
            try:
                for batch in batches[1:]:
                    found = pending.result()
                    pending = ahead.submit(self.multiget, url, kind, batch)
                    yield found
                yield pending.result()
            finally:
                pending.cancel()

    def put(self, url: str, data: str, content_type: str, etag: str | None) -> str | None:
        """Create (`etag` None: only if absent) or replace (only if still `etag`); the new
        ETag when the server gives one."""
        headers = {"Content-Type": f"{content_type}; charset=utf-8"}
        headers["If-Match" if etag else "If-None-Match"] = etag or "*"
        reply = self.request("PUT", url, data.encode(), headers, ok=(200, 201, 204))
        return str(reply.headers["ETag"]) if "ETag" in reply.headers else None

    def delete(self, url: str, etag: str | None = None) -> None:
        headers = {"If-Match": etag} if etag else {}
        self.request("DELETE", url, headers=headers, ok=(200, 204, 404))

    def mkcalendar(self, url: str, name: str) -> None:
        root = ET.Element(q(CALDAV, "mkcalendar"))
        prop = ET.SubElement(ET.SubElement(root, q(DAV, "set")), q(DAV, "prop"))
        ET.SubElement(prop, q(DAV, "displayname")).text = name
        components = ET.SubElement(prop, q(CALDAV, "supported-calendar-component-set"))
        ET.SubElement(components, q(CALDAV, "comp"), {"name": "VEVENT"})
        body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
        self.request(
            "MKCALENDAR", url, body, {"Content-Type": "application/xml; charset=utf-8"}, ok=(201,)
        )

    def set_display_name(self, url: str, name: str, description: str | None) -> None:
        root = ET.Element(q(DAV, "propertyupdate"))
        prop = ET.SubElement(ET.SubElement(root, q(DAV, "set")), q(DAV, "prop"))
        ET.SubElement(prop, q(DAV, "displayname")).text = name
        if description is not None:
            ET.SubElement(prop, q(CALDAV, "calendar-description")).text = description
        self._xml("PROPPATCH", url, root, "0")


def parse_multistatus(base: str, content: bytes) -> list[Response]:
    """Each response's absolute href, status, and the properties reported with 200."""
    tree = ET.fromstring(content)
    found: list[Response] = []
    for element in tree.findall(q(DAV, "response")):
        href = urljoin(base, element.findtext(q(DAV, "href")) or "")
        response = Response(href=href)
        status = element.findtext(q(DAV, "status"))
        if status:
            response.status = _status(status)
        for propstat in element.findall(q(DAV, "propstat")):
            if _status(propstat.findtext(q(DAV, "status")) or "HTTP/1.1 200") != 200:
                continue
            for prop in propstat.findall(q(DAV, "prop")):
                for child in prop:
                    response.props[child.tag] = child
        found.append(response)
    return found


def _status(line: str) -> int:
    parts = line.split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
