"""The HTTP adapter's client of the agency API, on aiohttp.

aiohttp because ``bench/http_clients.py`` measured it about fifteen times faster than
httpx at 64 requests in flight, for a fifth of the CPU per request (bench/README.md).
One session per adapter, opened on the first call (aiohttp needs a running loop), with at
most ``prefetch`` keep-alive connections, closed when the adapter stops.

What the adapter relies on, each pinned by a test:

- the URL goes out exactly as built: its path is already percent-encoded and is passed
  with ``encoded=True``, so nothing re-quotes it or removes dot segments;
- redirects are not followed (a 3xx is an answer like any other);
- the body is read up to ``max_response_bytes`` and no further;
- TLS is verified against ``ca_file`` or the system's trust store
  (:func:`splp.tls.verifying_context`).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from splp.tls import verifying_context


class ResponseTooLarge(Exception):
    """The agency API's answer is larger than the adapter passes on."""


@dataclass(frozen=True, slots=True)
class AgencyResponse:
    """An answer read in full: status, headers and body."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


def agency_tls(ca_file: Path | None) -> ssl.SSLContext:
    """How the agency API's certificate is checked: against ``ca_file`` when given, else
    against the system's trust store. Never off."""
    return verifying_context(ca_file, "ca_file")


class AgencyClient:
    """Sends requests to one agency API (``base_url``) over a pool of kept-alive connections.

    ``ConfigurationError`` comes from the constructor (a ``ca_file`` that cannot be
    loaded); :meth:`send` raises ``TimeoutError``, :class:`aiohttp.ClientError` or
    :class:`ResponseTooLarge`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        ca_file: Path | None,
        connections: int,
        max_response_bytes: int,
    ) -> None:
        base = URL(base_url)
        # the encoded form of base_url, to which a template's encoded path is appended
        self.prefix = str(base.with_query(None).with_fragment(None)).rstrip("/")
        self.tls = agency_tls(ca_file)
        self.connections = connections
        self.max_response_bytes = max_response_bytes
        self._session: aiohttp.ClientSession | None = None

    def url(self, encoded_path: str) -> URL:
        """The URL of ``encoded_path`` (percent-encoded, starting with ``/``), taken as is."""
        return URL(self.prefix + encoded_path, encoded=True)

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=self.connections, ssl=self.tls)
        return aiohttp.ClientSession(connector=connector, raise_for_status=False)

    async def send(
        self,
        method: str,
        url: URL,
        *,
        query: Mapping[str, str],
        body: bytes | None,
        headers: Mapping[str, str],
        timeout: float,
    ) -> AgencyResponse:
        """One request; the answer's body read in full (up to the size limit)."""
        if self._session is None:
            self._session = self._open()
        if query:
            url = url.extend_query(query)
        async with self._session.request(
            method,
            url,
            data=body,
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            return AgencyResponse(response.status, response.headers, await self._read(response))

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        limit = self.max_response_bytes
        if response.content_length is not None and response.content_length > limit:
            raise ResponseTooLarge(f"{response.content_length} bytes")
        chunks: list[bytes] = []
        size = 0
        while chunk := await response.content.readany():
            size += len(chunk)  # decoded bytes: a compressed answer is counted unpacked
            if size > limit:
                raise ResponseTooLarge(f"more than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def aclose(self) -> None:
        """Close the connections (the adapter calls this when it stops)."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
