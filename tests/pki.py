"""A throw-away PKI for the TLS tests: a CA, server and client certificates it signs, and
a stranger CA.

The files are world-readable in a directory of their own under the system's temporary
directory, so that the RabbitMQ node (another user) can read the server's certificate
and key; they are test keys, valid for a day.
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Pki:
    ca: Path  # the CA that signs the server's certificate
    server_cert: Path  # for localhost and 127.0.0.1
    server_key: Path
    client_cert: Path  # for mutual TLS
    client_key: Path
    stranger_ca: Path  # a CA that signed nothing here


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None,
    hosts: list[str] | None = None,
    usage: x509.ObjectIdentifier = x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is None:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
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
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if hosts:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o644)
    return path


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


@contextmanager
def make_pki(hosts: tuple[str, ...] = ("localhost", "127.0.0.1")) -> Iterator[Pki]:
    """Write a CA, a server certificate for ``hosts`` and a stranger CA; removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="splp-tls-"))
    directory.chmod(0o755)
    try:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _certificate("SPLP test CA", ca_key, None)
        server_key = ec.generate_private_key(ec.SECP256R1())
        server = _certificate(hosts[0], server_key, ("SPLP test CA", ca_key), list(hosts))
        client_key = ec.generate_private_key(ec.SECP256R1())
        client = _certificate(
            "splp-client",
            client_key,
            ("SPLP test CA", ca_key),
            usage=x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH,
        )
        stranger_key = ec.generate_private_key(ec.SECP256R1())
        stranger = _certificate("SPLP stranger CA", stranger_key, None)
        yield Pki(
            ca=_write(directory / "ca.pem", _pem(ca)),
            server_cert=_write(directory / "server.pem", _pem(server)),
            server_key=_write(directory / "server.key", _key_pem(server_key)),
            client_cert=_write(directory / "client.pem", _pem(client)),
            client_key=_write(directory / "client.key", _key_pem(client_key)),
            stranger_ca=_write(directory / "stranger-ca.pem", _pem(stranger)),
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)
