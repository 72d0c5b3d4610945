"""The audit sink's Ed25519 key: it signs the chain's head (anchors and exports).

The private key is a PKCS #8 PEM file, written ``0600`` (``splp audit keygen``, or the sink
on its first start when ``SPLP_AUDIT_SIGNING_KEY_FILE`` names a missing file). The public
key is shown as the base64 of its 32 raw bytes (RFC 8032), or as a PEM
SubjectPublicKeyInfo; its ``key_id`` is the first 16 hex digits of the SHA-256 of the 32
raw bytes.

>>> key = SigningKey.generate()
>>> signature = key.sign(b"head")
>>> public = load_public_key(key.public_base64)
>>> check_signature(public, signature, b"head"), check_signature(public, signature, b"h")
(True, False)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from splp.errors import ConfigurationError


def raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_of(public: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_public(public)).hexdigest()[:16]


class SigningKey:
    """An Ed25519 private key and the names of its public half."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public = private.public_key()
        self.key_id = key_id_of(self.public)

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load(cls, path: Path, *, create: bool = False) -> SigningKey:
        """The key in ``path``; with ``create``, a new one written there if it is missing."""
        if create and not path.exists():
            key = cls.generate()
            key.write(path)
            return key
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read the audit signing key {str(path)!r}: {exc.strerror}"
            ) from None
        try:
            private = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            private = None
        if not isinstance(private, Ed25519PrivateKey):
            raise ConfigurationError(f"{str(path)!r} is not an Ed25519 private key (PEM)")
        return cls(private)

    def write(self, path: Path) -> None:
        """Write the private key to a new file ``path``, mode 0600 from its creation."""
        pem = self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise ConfigurationError(f"{str(path)!r} exists: not overwriting a key") from None
        with os.fdopen(fd, "wb") as file:
            file.write(pem)

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    @property
    def public_base64(self) -> str:
        return base64.b64encode(raw_public(self.public)).decode()

    @property
    def public_pem(self) -> str:
        return self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()


def load_public_key(text: str) -> Ed25519PublicKey:
    """A public key from the base64 of its 32 raw bytes, a PEM text, or a file holding
    either."""
    value = text.strip()
    if not value.startswith("-----") and len(value) != 44 and Path(value).is_file():
        value = Path(value).read_text(encoding="utf-8").strip()
    if value.startswith("-----"):
        try:
            public = serialization.load_pem_public_key(value.encode())
        except ValueError:
            public = None
        if not isinstance(public, Ed25519PublicKey):
            raise ConfigurationError("the key is not an Ed25519 public key (PEM)")
        return public
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ConfigurationError(
            "the key must be an Ed25519 public key: the base64 of its 32 bytes, a PEM, or a "
            "file holding one"
        )
    return Ed25519PublicKey.from_public_bytes(raw)


def check_signature(public: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public.verify(signature, message)
    except InvalidSignature:
        return False
    return True
