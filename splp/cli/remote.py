"""Calls from a command to a running directory: a failure is one line and an exit code.

The ``party``, ``client``, ``theme``, ``service``, ``access``, ``credentials``, ``report``
and ``audit tail`` commands take ``--directory-url`` and ``--token``
(:mod:`splp.cli.options`) and call the directory through
:class:`~splp.bus.directory_client.DirectoryClient`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from splp.cli.guard import fail

if TYPE_CHECKING:
    from splp.bus.directory_client import DirectoryClient


def directory_client(url: str, token: str) -> DirectoryClient:
    """A client of the directory at ``url`` acting as the holder of ``token``; an ``https``
    directory is verified with ``SPLP_TLS_CA_FILE`` (see :mod:`splp.tls`)."""
    from splp.bus.directory_client import DirectoryClient
    from splp.errors import ConfigurationError
    from splp.settings import Settings
    from splp.tls import http_verify

    if not token:
        fail(ConfigurationError("no API token: set SPLP_TOKEN or pass --token"))
    try:
        verify = http_verify(Settings())
    except ConfigurationError as exc:
        fail(exc)
    return DirectoryClient(url, token, verify=verify)


def call_directory(
    url: str, token: str, method: str, path: str, body: Any = None, **params: Any
) -> Any:
    """One request to the directory; a failure is printed as one line and exits."""
    from splp.errors import SplpError

    with directory_client(url, token) as client:
        try:
            return client.request(method, path, body, params)
        except SplpError as exc:
            fail(exc)


def directory_text(url: str, token: str, path: str, **params: Any) -> str:
    """The text of a non-JSON answer (CSV, SVG); a failure is printed as one line and exits."""
    from splp.errors import SplpError

    with directory_client(url, token) as client:
        try:
            return client.get_text(path, params)
        except SplpError as exc:
            fail(exc)


def directory_bytes(url: str, token: str, path: str, **params: Any) -> bytes:
    """The bytes of a binary answer (PDF, XLSX); a failure is printed as one line and exits."""
    from splp.errors import SplpError

    with directory_client(url, token) as client:
        try:
            return client.get_bytes(path, params)
        except SplpError as exc:
            fail(exc)
