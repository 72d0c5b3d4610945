"""The composition root of the directory process: SPLP's control plane.

It is the one place that knows both the directory service and the audit trail. It mounts
the directory's routes and the audit API (behind the administrator and monitor roles),
gives the audit reports the directory's grant counts, migrates both stores, and runs the
broker reconciler for as long as the app lives. ``splp directory serve``, ``splp
directory init`` and ``splp demo`` all build the process through it::

    from splp.control_plane import create_app, init_stores
    token = await init_stores(settings)    # the first administrator's token, once
    app = create_app(settings)             # serve it with uvicorn
"""

from __future__ import annotations

from splp.control_plane.app import close_app, create_app
from splp.control_plane.server import DEFAULT_HOST, DEFAULT_PORT, serve
from splp.control_plane.stores import init_stores, migrate

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "close_app",
    "create_app",
    "init_stores",
    "migrate",
    "serve",
]
