"""Tokens and broker passwords are never stored in clear (DESIGN section 4).

A party is registered, its token rotated and its broker password replaced through the
real directory API, on SQLite and on PostgreSQL. Then everything the store holds is read
raw: the bytes of the SQLite file with its WAL and journal, or every row of every table
of the PostgreSQL database cast to text, plus the backup document that ``splp directory
backup`` writes. No token or password may appear, in clear or hex-encoded, while the
stored hashes still verify.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from splp.cli import app
from splp.directory_service import Store
from splp.directory_service.broker.passwords import password_matches
from splp.directory_service.models import ApiToken, Party
from splp.directory_service.tokens import hash_token
from tests.directory.conftest import Api


async def stored_bytes(store: Store) -> bytes:
    """Everything the store holds, as raw as the engine allows."""
    url = store.url
    if url.startswith("sqlite"):
        path = Path(url.split(":///", 1)[1])
        files = [path, *(path.with_name(path.name + s) for s in ("-wal", "-journal", "-shm"))]
        return b"".join(f.read_bytes() for f in files if f.exists())
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        tables = await connection.fetch(
            "SELECT quote_ident(table_name) AS name FROM information_schema.tables"
            " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        )
        assert len(tables) >= 5, [t["name"] for t in tables]
        rows = []
        for table in tables:
            rows += [r[0] for r in await connection.fetch(f"SELECT t::text FROM {table['name']} t")]
    finally:
        await connection.close()
    return "\n".join(rows).encode()


def in_clear(secrets: dict[str, str], data: bytes) -> list[str]:
    """The names of the secrets found in ``data``, as text or as hex (a bytea column)."""
    return [
        name
        for name, secret in secrets.items()
        if secret.encode() in data or secret.encode().hex().encode() in data.lower()
    ]


async def test_tokens_and_broker_passwords_are_never_stored_in_clear(
    api: Api, store: Store, parties: dict[str, str], tmp_path: Path
) -> None:
    admin = api.as_("admin")
    created = await api.post(
        "/parties", json={"name": "rahasia", "roles": ["requester"]}, headers=admin
    )
    assert created.status_code == 201, created.text
    rotated = await api.post("/parties/rahasia/token", headers=admin)
    replaced = await api.post("/parties/rahasia/broker-password", json={}, headers=admin)
    assert rotated.status_code == replaced.status_code == 200, (rotated.text, replaced.text)
    token, password = rotated.json()["token"], replaced.json()["broker_password"]
    secrets = {
        "the first token": created.json()["token"],
        "the rotated token": token,
        "the first broker password": created.json()["broker_password"],
        "the new broker password": password,
        **{f"the token of {name}": value for name, value in parties.items()},
    }
    # what is stored is the live credential: the hashes verify
    me = await api.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["name"] == "rahasia"
    async with store.session() as session:
        party = await session.scalar(select(Party).where(Party.name == "rahasia"))
        assert party is not None and party.broker_password_hash is not None
        hashes = set(
            await session.scalars(select(ApiToken.token_hash).where(ApiToken.party_id == party.id))
        )
    assert hash_token(token) in hashes
    assert password_matches(password, party.broker_password_hash)
    assert not password_matches(secrets["the first broker password"], party.broker_password_hash)

    data = await stored_bytes(store)
    assert b"rahasia" in data  # the scan does see the party's row
    assert in_clear(secrets, data) == [], "stored in clear"

    backup = tmp_path / "backup.json"
    result = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["directory", "backup", str(backup), "--database-url", store.url],
    )
    assert result.exit_code == 0, result.output
    document = backup.read_bytes()
    assert "rahasia" in json.loads(document)["tables"]["parties"][-1]["name"]
    assert in_clear(secrets, document) == [], "in the backup in clear"


@pytest.mark.parametrize("existing", [False, True], ids=["new-file", "over-a-0644-file"])
async def test_a_backup_is_readable_by_its_owner_only(
    store: Store, tmp_path: Path, existing: bool
) -> None:
    """A backup holds token and password hashes: mode 0600 whatever the umask, also when it
    replaces an older, readable file."""
    backup = tmp_path / "backup.json"
    if existing:
        backup.write_text("old")
        backup.chmod(0o644)
    old_umask = os.umask(0o022)
    try:
        result = await asyncio.to_thread(
            CliRunner().invoke,
            app,
            ["directory", "backup", str(backup), "--database-url", store.url],
        )
    finally:
        os.umask(old_umask)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert json.loads(backup.read_text())["tables"]
