"""Where `serve` and `demo` listen: the socket, bound before anything is printed, and TLS.

The port is bound first and the bound socket handed to uvicorn, so a port that is taken
is reported at once, as a sentence and a non-zero exit, before a banner promises a server
that will never answer (and no other process can take the port in between). A certificate
is checked (or the local one made) at the same moment, for the same reason.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the certificate code (and `cryptography`) loads only when TLS is asked for
    from nylas_engine.tls import TlsFiles


@dataclass
class Listener:
    sock: socket.socket
    host: str
    port: int
    tls: TlsFiles | None

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.tls and self.tls.ca is not None and host in ("0.0.0.0", "[::]"):
            host = "127.0.0.1"  # what the local certificate names
        return f"{scheme}://{host}:{self.port}/"

    def trust_hint(self) -> str | None:
        """How to make clients trust the local CA (None for an operator's certificate)."""
        if self.tls is None or self.tls.ca is None:
            return None
        ca = self.tls.ca
        return (
            f"HTTPS with the engine's local certificate authority {ca}\n"
            "Trust it in clients:\n"
            f"  export REQUESTS_CA_BUNDLE={ca}   # Python requests (nylas-legacy)\n"
            f"  export SSL_CERT_FILE={ca}        # Python httpx (nylas)\n"
            f"  export NODE_EXTRA_CA_CERTS={ca}  # Node.js (nylas@6)\n"
            f"  curl --cacert {ca} ..."
        )

    def another_socket(self) -> socket.socket:
        """One more socket listening on this port (bound with `share_port`): the kernel
        spreads new connections over the port's sockets."""
        return _bind(self.host, self.sock.getsockname()[1], share_port=True)

    def close(self) -> None:
        self.sock.close()


def tls_files(
    data_dir: Path, cert: str | None, key: str | None, self_signed: bool
) -> TlsFiles | None:
    """TLS from the command line: an operator's `--tls-cert`/`--tls-key`, the local
    certificate (`--tls-self-signed`), or None for plain HTTP. Raises SystemExit with a
    sentence for any problem."""
    if not (cert or key or self_signed):
        return None
    from nylas_engine.tls import CertificateError, check_pair, local_certificate

    if self_signed and (cert or key):
        raise SystemExit("--tls-self-signed makes its own certificate: drop --tls-cert/--tls-key")
    if bool(cert) != bool(key):
        raise SystemExit("--tls-cert and --tls-key go together: give both files")
    try:
        if cert and key:
            return check_pair(Path(cert).expanduser(), Path(key).expanduser())
        return local_certificate(data_dir)
    except CertificateError as exc:
        raise SystemExit(str(exc)) from None
    except OSError as exc:
        raise SystemExit(f"cannot make the local certificate in {data_dir}: {exc}") from None


def bind(host: str, port: int, *, share_port: bool = False) -> socket.socket:
    """A TCP socket listening on `host:port`, as uvicorn would make it; SystemExit if the
    port is taken or the address can't be used. With `share_port`, more sockets can listen
    on the port later (`Listener.another_socket`, SO_REUSEPORT: one per API process)."""
    if share_port:
        # Only sockets that all set SO_REUSEPORT share a port: a plain socket bound first
        # tells whether the port is free (another engine's sockets included), and is closed.
        probe = _bind(host, port, share_port=False)
        port = probe.getsockname()[1]
        probe.close()
    return _bind(host, port, share_port=share_port)


def _bind(host: str, port: int, *, share_port: bool) -> socket.socket:
    # As uvicorn binds: IPv6 for an IPv6 address, else IPv4 ("localhost" is 127.0.0.1).
    # The protocol named: asyncio sets TCP_NODELAY only on connections accepted from a socket
    # whose proto is IPPROTO_TCP (a plain socket() has 0). Without it a response written as
    # headers then body waited for the client's delayed ACK: ~40 ms on every request of a
    # keep-alive connection (bench/RESULTS.md, Fleet: 135 req/s at 0.6 cores, 8 connections).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if share_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
        # Listening at once holds the port: on Linux, SO_REUSEADDR lets a second socket bind
        # a port whose first socket is bound but not listening yet (an engine starting up).
        # Connections made before the app is ready wait in the backlog.
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise SystemExit(
                f"port {port} is in use; pass --port to choose another (is a nylas-engine running?)"
            ) from None
        raise SystemExit(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def open_listener(
    host: str,
    port: int,
    data_dir: Path,
    *,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    tls_self_signed: bool = False,
    share_port: bool = False,
) -> Listener:
    tls = tls_files(data_dir, tls_cert, tls_key, tls_self_signed)
    return Listener(bind(host, port, share_port=share_port), host, port, tls)
