"""The suite-wide secret check (``tests/logcapture.py``) is itself working: the tokens and
passwords the directory mints are registered, and a line that shows one is caught."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx

from splp.control_plane import close_app, create_app
from splp.directory_service import Store, subject_keys
from splp.directory_service.parties import create_party
from splp.settings import Settings
from tests.logcapture import _HANDLER, PAYLOAD_MARKER, SECRETS, leaks


async def test_minted_tokens_and_passwords_are_registered_and_a_logged_one_is_caught(
    tmp_path: Path,
) -> None:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'directory.db'}")
    await store.migrate()
    async with store.session() as session:
        _admin, token = await create_party(session, "admin", ["administrator"])
    app = create_app(Settings(database_url=store.url, broker_reconcile=False), store=store)
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://directory") as api:
        created = await api.post(
            "/parties",
            json={"name": "dinsos", "roles": ["requester"]},
            headers={"Authorization": f"Bearer {token}"},
        )
    await close_app(app)
    assert created.status_code == 201, created.text
    password = created.json()["broker_password"]
    assert SECRETS.kinds_in(f"x {token} y") == {"directory API token"}
    assert SECRETS.kinds_in(password) == {"broker password"}
    assert SECRETS.kinds_in(f"payload {{'nik': '{PAYLOAD_MARKER}'}}") == {"request payload marker"}

    # every splp logger reports at DEBUG to the check, whatever ran before this test
    assert logging.getLogger("splp.selftest").getEffectiveLevel() == logging.DEBUG
    _HANDLER.take()  # this test's lines so far
    logging.getLogger("splp.selftest").info("issued %s to %s", token, "admin")
    found = leaks(_HANDLER.take())  # taken here: the teardown check sees nothing
    assert found == ["a directory API token in 1 line(s) of logger splp.selftest"]
    assert token not in found[0]


async def test_subject_keys_are_registered_and_a_logged_one_is_caught(tmp_path: Path) -> None:
    """The keys of the subject HMAC (a leaked one lets anyone try NIKs against the
    audit trail) are secrets like tokens: the first one and a rotated one."""
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'directory.db'}")
    await store.migrate()
    async with store.session() as session:
        first = await subject_keys.current_key(session)
        rotated = await subject_keys.rotate(session)
        await session.commit()
    await store.close()
    for key in (first, rotated):
        assert SECRETS.kinds_in(f"key={key.secret.hex()}.") == {"subject HMAC key"}
    _HANDLER.take()
    logging.getLogger("splp.selftest").warning("loaded %s", rotated.secret.hex())
    found = leaks(_HANDLER.take())
    assert found == ["a subject HMAC key in 1 line(s) of logger splp.selftest"]
