"""The directory service: the metadata repository, the service directory, parties and
the access procedure (DESIGN section 4).

The metadata repository and service directory (Bungo reg. 28/2024 Pasal 5b, 5c), parties
and roles (Pasal 6(6)) and the access procedure (Pasal 7), behind a FastAPI app on a
SQLite or PostgreSQL store::

    from splp.directory_service import Store, directory_app, init_store
    store = Store("sqlite+aiosqlite:///splp.db")
    token = await init_store(store)        # the first administrator's token, once
    app = directory_app(settings, store=store)

The directory process itself (with the audit API and the reconciler's timer) is built by
:mod:`splp.control_plane`; this package never imports :mod:`splp.audit`.
"""

from __future__ import annotations

from splp.directory_service.app import close_directory, directory_app
from splp.directory_service.backup import dump, restore
from splp.directory_service.bootstrap import init_store
from splp.directory_service.events import DirectoryEvents
from splp.directory_service.store import Store

__all__ = [
    "DirectoryEvents",
    "Store",
    "close_directory",
    "directory_app",
    "dump",
    "init_store",
    "restore",
]
