"""The directory service: SPLP's control plane (DESIGN section 4).

The metadata repository and service directory (Bungo reg. 28/2024 Pasal 5b, 5c), parties
and roles (Pasal 6(6)) and the access procedure (Pasal 7), behind a FastAPI app on a
SQLite or PostgreSQL store::

    from splp.directory_service import Store, create_app, init_store
    store = Store("sqlite+aiosqlite:///splp.db")
    token = await init_store(store)        # the first administrator's token, once
    app = create_app(settings, store=store)
"""

from __future__ import annotations

from splp.directory_service.app import close_app, create_app
from splp.directory_service.audit import DirectoryAudit
from splp.directory_service.backup import dump, restore
from splp.directory_service.bootstrap import init_store
from splp.directory_service.server import serve
from splp.directory_service.store import Store

__all__ = [
    "DirectoryAudit",
    "Store",
    "close_app",
    "create_app",
    "dump",
    "init_store",
    "restore",
    "serve",
]
