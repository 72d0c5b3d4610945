"""Creating the store and its first administrator (``splp directory init``)."""

from __future__ import annotations

from splp.directory_service.parties import administrator_count, create_party
from splp.directory_service.store import Store


async def init_store(store: Store, admin_name: str = "admin", title: str = "") -> str | None:
    """Migrate the store; create the first administrator and return its token.

    ``None`` when an administrator exists already: a token is never shown twice, and an
    operator who lost it asks another administrator for a new party.
    """
    await store.migrate()
    async with store.session() as session:
        if await administrator_count(session):
            return None
        _party, token = await create_party(
            session, admin_name, ["administrator"], title or "SPLP administrator"
        )
    return token
