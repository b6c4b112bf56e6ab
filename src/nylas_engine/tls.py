"""HTTPS for `serve` and `demo`: a certificate the operator brings, or a local one made here.

Clients written for hosted Nylas v2 insist on `https://` (nylas-legacy refuses any other
API server), so a local engine needs a certificate those clients can be told to trust.
`local_certificate(data_dir)` keeps a small certificate authority of the engine's own in
`<data dir>/tls/` and a server certificate it signed for `localhost`, `127.0.0.1` and `::1`.
Clients trust the CA file alone (`REQUESTS_CA_BUNDLE`, `NODE_EXTRA_CA_CERTS`,
`curl --cacert`), so the server certificate can be renewed without touching them.

* The CA is name-constrained to those loopback names: even a CA file added to a system's
  trust store could never vouch for another site.
* Files are the engine user's alone (store/private.py): the keys above all.
* Made once and reused by later starts; the server certificate is renewed (by the same CA)
  when it has less than a month left. Two engines starting at once on one data dir take a
  lock, so they never write halves of two different authorities.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from nylas_engine.store.private import private_dir, write_private

LOCAL_NAMES = ("localhost",)
LOCAL_ADDRESSES = ("127.0.0.1", "::1")
CA_LIFETIME = timedelta(days=3650)
SERVER_LIFETIME = timedelta(days=397)  # what browsers accept for a server certificate
RENEW_BEFORE = timedelta(days=30)


class CertificateError(Exception):
    """A certificate or key that cannot be used; the message says which file and why."""


@dataclass(frozen=True)
class TlsFiles:
    """What uvicorn serves (`cert`, `key`) and, for a local certificate, the CA that clients
    trust (`ca`; None for a certificate the operator brought)."""

    cert: Path
    key: Path
    ca: Path | None = None


def check_pair(cert: Path, key: Path) -> TlsFiles:
    """`cert` and `key` as given by the operator, loaded once to find any problem before
    the server starts: a missing file, a file that is not PEM, a key of another cert."""
    for label, path in (("--tls-cert", cert), ("--tls-key", key)):
        if not path.is_file():
            raise CertificateError(f"{label} {path}: no such file")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(str(cert), str(key), password=_no_password)
    except PermissionError as exc:
        raise CertificateError(f"cannot read {exc.filename}: permission denied") from None
    except ssl.SSLError as exc:
        raise CertificateError(
            f"cannot use --tls-cert {cert} with --tls-key {key}: {exc.reason or exc} "
            "(both must be PEM files, the key the certificate's own)"
        ) from None
    return TlsFiles(cert, key)


def _no_password() -> bytes:
    raise CertificateError("the key is encrypted: give a key without a passphrase")


def local_certificate(data_dir: Path) -> TlsFiles:
    """The engine's local CA and a current server certificate for the loopback names,
    made (or renewed) in `<data_dir>/tls` as needed."""
    folder = private_dir(private_dir(data_dir) / "tls")
    files = TlsFiles(folder / "localhost.pem", folder / "localhost-key.pem", folder / "ca.pem")
    ca_key_path = folder / "ca-key.pem"
    with _locked(folder / ".lock"):
        assert files.ca is not None
        authority = _load_authority(files.ca, ca_key_path)
        if authority is None:
            authority = _new_authority(files.ca, ca_key_path)
        ca_cert, ca_key = authority
        if not _current(files, ca_cert):
            _new_server_certificate(files, ca_cert, ca_key)
    return files


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _load_authority(
    ca_path: Path, key_path: Path
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    """The CA kept from an earlier start; None if there is none (or it is unusable, or
    near its end: then a new one is made, and clients must be pointed at it again)."""
    try:
        cert = x509.load_pem_x509_certificate(ca_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    except (OSError, ValueError, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or _expiring(cert):
        return None
    if key.public_key() != cert.public_key():
        return None
    return cert, key


def _expiring(cert: x509.Certificate) -> bool:
    return cert.not_valid_after_utc - datetime.now(timezone.utc) < RENEW_BEFORE


def _current(files: TlsFiles, ca_cert: x509.Certificate) -> bool:
    """The server certificate and its key match, the cert was signed by this CA, and it is
    not about to expire."""
    try:
        cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
        key = serialization.load_pem_private_key(files.key.read_bytes(), None)
        cert.verify_directly_issued_by(ca_cert)
    except (OSError, ValueError, TypeError, InvalidSignature):
        return False
    return key.public_key() == cert.public_key() and not _expiring(cert)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "nylas-engine"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _loopback() -> list[x509.GeneralName]:
    return [x509.DNSName(n) for n in LOCAL_NAMES] + [
        x509.IPAddress(ipaddress.ip_address(a)) for a in LOCAL_ADDRESSES
    ]


def _new_authority(
    ca_path: Path, key_path: Path
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(timezone.utc)
    name = _name(f"nylas-engine local CA {now:%Y-%m-%d %H:%M:%S}")
    constraints = x509.NameConstraints(
        permitted_subtrees=[x509.DNSName(n) for n in LOCAL_NAMES]
        + [x509.IPAddress(ipaddress.ip_network(a)) for a in LOCAL_ADDRESSES],
        excluded_subtrees=None,
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(constraints, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(key_path, _pem_key(key))
    write_private(ca_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _new_server_certificate(
    files: TlsFiles, ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(timezone.utc)
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(min(now + SERVER_LIFETIME, ca_cert.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName(_loopback()), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    write_private(files.key, _pem_key(key))
    write_private(files.cert, cert.public_bytes(serialization.Encoding.PEM))


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
