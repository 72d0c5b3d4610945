"""The HTTP gateway: applications that speak HTTP (PHP and others, the national SPLP)
call the bus with OAuth2 client credentials (Musi Banyuasin Pasal 25, DESIGN section 7).

>>> from splp.gateway import gateway_app, serving
>>> async with serving(gateway_app(settings)) as url:  # doctest: +SKIP
...     ...

A call for party A travels on A's own gateway broker identity
(:mod:`splp.bus.gateway_identity`), so the broker bounds it as it bounds A's AMQP calls.
"""

from __future__ import annotations

from splp.gateway.app import gateway_app
from splp.gateway.directory_view import DirectoryView
from splp.gateway.server import DEFAULT_HOST, DEFAULT_PORT, serve, serving
from splp.gateway.tokens import TokenIssuer

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DirectoryView",
    "TokenIssuer",
    "gateway_app",
    "serve",
    "serving",
]
