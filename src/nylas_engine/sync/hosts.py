"""Which mail servers the engine connects to for a caller: the address policy.

In token mode anyone who knows an app's client_id (which is public) can ask the engine to log
in to a mail server of their choosing (`POST /connect/authorize`). Unchecked, that makes the
engine a port scanner and a relay into every network it can reach and the caller cannot:
its own loopback services, the LAN, a cloud's metadata address. So in token mode a mail host
must resolve to a public address: `ipaddress`'s `is_global`, and not loopback, private
(RFC 1918, fc00::/7), link-local, unspecified, multicast, reserved or shared (CGNAT); an
IPv4 address wrapped in IPv6 (mapped, 6to4, Teredo) is judged as itself. The operator may
allow more by name, address or network (`serve --allow-mail-hosts`, or
`NYLAS_ENGINE_ALLOW_MAIL_HOSTS="127.0.0.1,10.0.0.0/8,mail.internal"`; `*` allows all). An
allowed name is trusted whatever it resolves to.

An account whose hosts a caller chose (`Account.hosts_checked`) has them checked again on
every connection, by sync and by send: a name that was public when the account was connected
may point at a private address later.

The name is resolved once per connection, here, and `pin` puts the allowed addresses into the
`ServerSettings`; the connection then goes to one of them (sync/dial.py), so a DNS answer
that changes between the check and the connection (rebinding) cannot slip a private address
past the check. TLS still checks the server's certificate against the name.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from nylas_engine.sync.imap import ServerSettings, ServerUnreachable

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class HostRefused(ValueError):
    """The host is not one the engine may connect to; nothing was connected."""


def is_public(address: Address) -> bool:
    """Whether `address` is on the public Internet (see the module docstring)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public(address.ipv4_mapped)
        embedded = [address.sixtofour, *(address.teredo or ())]
        if any(inner is not None and not is_public(inner) for inner in embedded):
            return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _name(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


@dataclass(frozen=True)
class MailHostPolicy:
    """`restricted`: only public addresses, plus the allowed names and networks."""

    restricted: bool = True
    names: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, allowed: str, *, restricted: bool = True) -> MailHostPolicy:
        """From a comma-separated list of host names, addresses and networks (ValueError for
        an entry that is none of these)."""
        names: set[str] = set()
        networks: list[Network] = []
        for entry in (e.strip() for e in allowed.split(",")):
            if not entry:
                continue
            if entry == "*":
                restricted = False
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                name = _name(entry)
                if not name or any(c in name for c in " /@:\x00"):
                    raise ValueError(f"not a host name, address or network: {entry!r}") from None
                names.add(name)
        return cls(restricted, frozenset(names), tuple(networks))

    def allows(self, host: str, address: Address) -> bool:
        if not self.restricted or _name(host) in self.names:
            return True
        return any(address in net for net in self.networks) or is_public(address)

    def addresses(self, host: str, port: int, server: str = "IMAP") -> tuple[str, ...]:
        """The addresses to connect to for `host`: its allowed ones. `HostRefused` when it
        has none (or the host is not a name); `ServerUnreachable` when it does not
        resolve."""
        try:
            literal: Address | None = ipaddress.ip_address(_name(host))
        except ValueError:
            literal = None
        if literal is not None:
            found = [literal]
        else:
            found = _resolve(host, port, server)
        allowed = tuple(dict.fromkeys(str(a) for a in found if self.allows(host, a)))
        if allowed:
            return allowed
        raise HostRefused(
            f"The {server} host is not a public address: this engine connects only to "
            "public mail servers unless its operator allows others (--allow-mail-hosts)."
        )

    def pin(self, settings: ServerSettings) -> ServerSettings:
        """`settings` with the checked addresses to connect to (see the module docstring)."""
        smtp: tuple[str, ...] = ()
        if settings.smtp_host:
            smtp = self.addresses(settings.smtp_host, settings.smtp_port or 25, "SMTP")
        return replace(
            settings,
            imap_addresses=self.addresses(settings.imap_host, settings.imap_port),
            smtp_addresses=smtp,
        )


UNRESTRICTED = MailHostPolicy(restricted=False)


@cache
def policy_for(auth_mode: str, allowed: str) -> MailHostPolicy:
    """Token mode connects to public hosts and the operator's; open mode (loopback) to any."""
    return MailHostPolicy.parse(allowed, restricted=auth_mode == "token")


def _resolve(host: str, port: int, server: str) -> list[Address]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (UnicodeError, ValueError):
        raise HostRefused(f"The {server} host is not a host name.") from None
    except OSError:
        raise ServerUnreachable(f"cannot resolve the {server} host {host}", server) from None
    addresses: list[Address] = []
    for info in infos:
        try:
            addresses.append(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))
        except ValueError:
            continue
    return addresses


def checked_again(engine: Any, settings: ServerSettings) -> ServerSettings:
    """`settings` pinned to addresses the engine's policy (`engine`: its settings, with
    `auth_mode` and `allow_mail_hosts`) allows now; `ServerUnreachable` when the host no
    longer resolves to one (a changed DNS answer is treated like an outage, retried later)."""
    policy = policy_for(engine.auth_mode, engine.allow_mail_hosts)
    try:
        return policy.pin(settings)
    except HostRefused as exc:
        raise ServerUnreachable(f"{exc} (the host now resolves to another address)") from None
