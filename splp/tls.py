"""TLS for SPLP's clients: one context for ``amqps`` to RabbitMQ and ``https`` to the
directory and the management API.

Verification is always on: the peer's certificate must chain to ``SPLP_TLS_CA_FILE``
(when that is not set: for ``amqps`` the system's trust store; for ``https`` httpx's own
bundle, certifi's, unless a client certificate is set) and name the host that was
dialled. ``SPLP_TLS_CERT_FILE`` and ``SPLP_TLS_KEY_FILE`` add a client certificate for
brokers that ask for one (mutual TLS). There is no switch to turn verification off.

>>> context = client_context(Settings())
>>> context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
True
"""

from __future__ import annotations

import ssl
from pathlib import Path

from splp.errors import ConfigurationError
from splp.settings import Settings

HINT = "set SPLP_TLS_CA_FILE to the CA that signed it"
CLIENT_CERT_HINT = "set SPLP_TLS_CERT_FILE and SPLP_TLS_KEY_FILE"
NAME_HINT = "the certificate does not name the host in the URL: dial a name it carries"
# X509_V_ERR_HOSTNAME_MISMATCH, _EMAIL_MISMATCH, _IP_ADDRESS_MISMATCH
NAME_MISMATCH = frozenset({62, 63, 64})


def client_context(settings: Settings) -> ssl.SSLContext:
    """A verifying TLS client context built from ``settings`` (TLS 1.2 or newer).

    Raises :class:`~splp.errors.ConfigurationError` when a configured file cannot be
    loaded, naming the setting and the file.
    """
    context = verifying_context(settings.tls_ca_file, "SPLP_TLS_CA_FILE")
    if settings.tls_cert_file is not None or settings.tls_key_file is not None:
        if settings.tls_cert_file is None:
            raise ConfigurationError("SPLP_TLS_KEY_FILE is set without SPLP_TLS_CERT_FILE")
        try:
            context.load_cert_chain(
                settings.tls_cert_file,
                settings.tls_key_file,
            )
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(
                f"client certificate SPLP_TLS_CERT_FILE {settings.tls_cert_file} / "
                f"SPLP_TLS_KEY_FILE {settings.tls_key_file} cannot be loaded: {_reason(exc)}"
            ) from None
    return context


def verifying_context(ca_file: Path | None, setting: str) -> ssl.SSLContext:
    """A client context (TLS 1.2 or newer) that trusts ``ca_file``, else the system's store;
    a file that cannot be loaded is a :class:`~splp.errors.ConfigurationError` naming
    ``setting``."""
    try:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(f"{setting} {ca_file} cannot be loaded: {_reason(exc)}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def http_verify(settings: Settings) -> ssl.SSLContext | bool:
    """The ``verify=`` of an httpx client: ``True`` (httpx's own CA bundle, certifi's) unless
    one of SPLP's TLS settings is given, then :func:`client_context` (which trusts
    ``SPLP_TLS_CA_FILE``, else the system's store, and refuses a key without a cert).

    >>> http_verify(Settings())
    True
    >>> http_verify(Settings(tls_key_file="client.key"))
    Traceback (most recent call last):
    ...
    splp.errors.ConfigurationError: SPLP_TLS_KEY_FILE is set without SPLP_TLS_CERT_FILE
    """
    if not any((settings.tls_ca_file, settings.tls_cert_file, settings.tls_key_file)):
        return True
    return client_context(settings)


def tls_failure(exc: BaseException) -> str | None:
    """Why ``exc`` (or an exception it was raised from) failed a TLS handshake, with a hint;
    ``None`` when it is not a TLS failure.

    >>> tls_failure(ConnectionRefusedError(111, "Connection refused")) is None
    True
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            why = current.verify_message or "certificate verify failed"
            hint = NAME_HINT if current.verify_code in NAME_MISMATCH else HINT
            return f"TLS certificate verification failed ({why}); {hint}"
        if isinstance(current, ssl.SSLError):
            reason = _reason(current)
            if "CERTIFICATE_REQUIRED" in reason:
                wants = "the server wants a client certificate"
                return f"TLS handshake failed ({reason}): {wants}; {CLIENT_CERT_HINT}"
            return f"TLS handshake failed ({reason})"
        current = current.__cause__ or current.__context__
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return f"TLS certificate verification failed ({text}); {HINT}"
    return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)
