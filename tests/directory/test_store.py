"""The store: migrations on both engines, the first administrator, hashed tokens, backup."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from splp.directory_service import Store, dump, init_store, restore
from splp.directory_service.backup import EPHEMERAL
from splp.directory_service.models import ApiToken, Base
from splp.directory_service.supervision import HitIn, raise_hit
from splp.errors import ConfigurationError
from tests.databases import create_postgres_database, drop_postgres_database
from tests.directory.conftest import Api, empty, walk


async def test_migrations_create_every_table_at_head(store: Store) -> None:
    assert await store.revision() == Store.head()
    await store.migrate()  # a second run is a no-op
    async with store.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            await connection.execute(text(f"SELECT COUNT(*) FROM {table.name}"))


async def test_the_migrations_build_exactly_the_models_tables(store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    ours = set(Base.metadata.tables)  # the audit store's tables share the database

    def ours_only(name: str | None, kind: str, parents: Any) -> bool:
        return kind != "table" or name in ours

    async with store.engine.connect() as connection:
        differences = await connection.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"include_name": ours_only}), Base.metadata
            )
        )
    assert differences == []


async def test_init_creates_one_administrator_once(store: Store) -> None:
    token = await init_store(store, "kominfo")
    assert token is not None and token.startswith("splp_")
    assert await init_store(store, "kominfo") is None
    async with store.session() as session:
        from splp.directory_service.parties import authenticate

        caller = await authenticate(session, token)
    assert caller is not None and caller.name == "kominfo"
    assert caller.roles == {"administrator"}


async def test_tokens_are_stored_as_sha256_hashes(api: Api) -> None:
    created = await api.post(
        "/parties", json={"name": "rsud", "roles": ["requester"]}, headers=api.as_("admin")
    )
    token = created.json()["token"]
    async with api.app.state.store.session() as session:  # type: ignore[attr-defined]
        hashes = (await session.scalars(select(ApiToken.token_hash))).all()
    everything = str((await dump(api.app.state.store))["tables"])  # type: ignore[attr-defined]
    assert token not in everything
    for clear in api.tokens.values():
        assert clear not in everything
    assert hashlib.sha256(token.encode()).hexdigest() in hashes
    assert all(len(h) == 64 for h in hashes)


def test_unsupported_database_urls_are_configuration_errors() -> None:
    for url in ("mysql://x@y/z", "sqlite:///plain-driver.db", "not a url"):
        with pytest.raises(ConfigurationError):
            Store(url)


async def filled(api: Api, penduduk: dict[str, Any]) -> dict[str, Any]:
    await walk(api, penduduk, "granted")
    submitted = await walk(api, penduduk, "submitted")
    document = await api.post(
        f"/access-requests/{submitted}/attachments",
        content=b"%PDF-1.4\n\x00\xff binary\n%%EOF\n",
        headers={**api.as_("dinsos"), "Content-Type": "application/pdf"},
    )
    assert document.status_code == 201, document.text
    await walk(api, penduduk, "rejected")
    created = await api.post(
        "/parties/dinsos/clients", json={"name": "sipd"}, headers=api.as_("admin")
    )
    assert created.status_code == 201, created.text
    person = {"party": "dinsos", "email": "op@dinsos.go.id", "name": "Op", "roles": ["requester"]}
    added = await api.post("/users", json=person, headers=api.as_("admin"))
    assert added.status_code == 201, added.text
    assert (await api.get("/subject-key", headers=api.as_("dukcapil"))).status_code == 200
    app: Any = api.app  # type: ignore[attr-defined]
    until = datetime.now(UTC)
    hit = HitIn("backup", "office_hours", "dinsos", until - timedelta(hours=1), until)
    async with app.state.store.sessions() as session:
        raised = await raise_hit(session, app.state.events, hit)
        await session.commit()
    assert raised is not None
    noted = await api.post(
        f"/supervision/hits/{raised.hit['id']}/notes",
        json={"text": "a night shift, agreed"},
        headers=api.as_("admin"),
    )
    assert noted.status_code == 201, noted.text
    return await dump(app.state.store)


async def test_backup_restore_round_trip(api: Api, penduduk: dict[str, Any], tmp_path: Any) -> None:
    store: Store = api.app.state.store  # type: ignore[attr-defined]
    document = await filled(api, penduduk)
    assert document["revision"] == Store.head()
    kept = [t.name for t in Base.metadata.sorted_tables if t.name not in EPHEMERAL]
    assert all(document["tables"][name] for name in kept)
    assert set(document["tables"]) == set(kept), "sessions are not backed up"
    await empty(store)
    counts = await restore(store, document)
    assert counts == {name: len(rows) for name, rows in document["tables"].items()}
    assert await dump(store) == document
    # tokens keep working and new rows get fresh ids after a restore
    me = await api.get("/me", headers=api.as_("dukcapil"))
    assert me.status_code == 200
    rid = await walk(api, penduduk, "submitted")
    assert rid > max(r["id"] for r in document["tables"]["access_requests"])


async def test_restore_refuses_a_non_empty_store_and_bad_documents(
    api: Api, penduduk: dict[str, Any]
) -> None:
    store: Store = api.app.state.store  # type: ignore[attr-defined]
    document = await filled(api, penduduk)
    with pytest.raises(ConfigurationError, match="not empty"):
        await restore(store, document)
    await empty(store)
    bad_time = {**document, "tables": {**document["tables"]}}
    bad_time["tables"]["parties"] = [{**document["tables"]["parties"][0], "created_at": "noon"}]
    for broken, words in [
        ({"format": "something"}, "not an SPLP"),
        ({**document, "version": 99}, "version"),
        ({**document, "revision": "zzz"}, "revision"),
        (bad_time, "bad time"),
    ]:
        with pytest.raises(ConfigurationError, match=words):
            await restore(store, broken)
    assert all(not rows for rows in (await dump(store))["tables"].values())


@pytest.mark.postgres
async def test_backup_of_sqlite_restores_into_postgresql(
    api: Api, penduduk: dict[str, Any]
) -> None:
    source: Store = api.app.state.store  # type: ignore[attr-defined]
    document = await filled(api, penduduk)
    url = await create_postgres_database()
    target = Store(url)
    try:
        await restore(target, document)
        assert await dump(target) == document
        # and back again, into an empty store of the first engine
        back = await dump(target)
        await empty(source)
        await restore(source, back)
        assert await dump(source) == document
    finally:
        await target.close()
        await drop_postgres_database(url)


@pytest.mark.postgres
@pytest.mark.parametrize("how", ["serve", "init"])
async def test_directory_start_migrates_the_audit_store(how: str) -> None:
    """``splp directory serve`` and ``init`` leave the audit tables on the directory's
    database, so the mounted audit API answers from the first request."""
    from splp.audit import AuditStore
    from splp.control_plane import init_stores, migrate
    from tests.directory.conftest import directory_settings

    url = await create_postgres_database()
    try:
        audit = AuditStore(url)
        assert await audit.revision() is None
        if how == "serve":
            await migrate(directory_settings(url))
        else:
            assert await init_stores(directory_settings(url), "kominfo") is not None
        assert await audit.revision() is not None
        assert await audit.count() == 0
        await audit.close()
    finally:
        await drop_postgres_database(url)
