"""Migrating the control plane's two stores and creating the first administrator."""

from __future__ import annotations

from splp.audit.store import AuditStore
from splp.directory_service.bootstrap import init_store
from splp.directory_service.store import Store
from splp.settings import Settings


async def migrate_audit(url: str) -> None:
    audit = AuditStore(url)
    try:
        await audit.migrate()
    finally:
        await audit.close()


async def migrate(settings: Settings) -> None:
    """Bring the directory's store and the audit store (which the audit API reads) up to
    date."""
    store = Store(settings.database_url)
    try:
        await store.migrate()
    finally:
        await store.close()
    await migrate_audit(settings.audit_store_url)


async def init_stores(settings: Settings, admin_name: str = "admin") -> str | None:
    """Migrate both stores; create the first administrator and return its token.

    ``None`` when an administrator exists already: a token is never shown twice.
    """
    store = Store(settings.database_url)
    try:
        token = await init_store(store, admin_name)
    finally:
        await store.close()
    await migrate_audit(settings.audit_store_url)
    return token
