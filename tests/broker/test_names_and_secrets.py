"""Names cannot widen a permission; passwords never reach a log; a dead broker never fails
the directory; the CLI syncs and shows status."""

from __future__ import annotations

import logging
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from typer.testing import CliRunner

from splp.bus.management import Management
from splp.bus.names import SEGMENT, ServiceRef
from splp.cli import app
from splp.directory_service.broker.passwords import password_matches
from splp.directory_service.broker.patterns import exact, routing_key_pattern
from splp.directory_service.models import AccessRequest, Party, Service, Theme
from splp.errors import AccessDenied
from splp.settings import Settings
from tests.broker.conftest import World

segments = st.from_regex(SEGMENT, fullmatch=True)
hostile = st.text(alphabet=".*+?|()[]{}^$\\-abc", min_size=1, max_size=12)


@given(st.lists(st.one_of(segments, hostile), min_size=1, max_size=4), st.one_of(segments, hostile))
def test_an_exact_pattern_matches_its_names_and_nothing_else(names: list[str], other: str) -> None:
    pattern = re.compile(exact(names))
    assert all(pattern.search(name) for name in names)
    assert (pattern.search(other) is not None) == (other in names)


@given(segments, segments, segments, segments)
def test_a_grant_pattern_admits_only_its_service(p: str, s: str, op: str, other: str) -> None:
    ref = ServiceRef(p, s, 1)
    listed = re.compile("^(?:" + "|".join(routing_key_pattern(ref, [op])) + ")$")
    every = re.compile("^(?:" + "|".join(routing_key_pattern(ref, None)) + ")$")
    assert listed.search(f"{ref}.{op}") and every.search(f"{ref}.{other}")
    assert (listed.search(f"{ref}.{other}") is not None) == (other == op)
    for key in (f"{ref}.{op}.x", f"{p}.{s}.v2.{op}", f"{ref}x.{op}", f"x{ref}.{op}"):
        assert not listed.search(key) and not every.search(key)


async def test_hostile_names_written_to_the_store_are_refused(world: World) -> None:
    """A doctored database (or backup) cannot smuggle a regex into a permission."""
    async with world.store.session() as session:
        session.add(Party(name="evil.*", roles=["requester", "publisher"]))
        session.add(Theme(name="a|b"))
        pusk = await session.scalar(select(Party).where(Party.name == "pusk"))
        keluarga = await session.scalar(select(Service).where(Service.name == "keluarga"))
        assert pusk is not None and keluarga is not None
        for operations in (["get|.*"], [".*"], "get"):
            session.add(
                AccessRequest(
                    requester_id=pusk.id,
                    service_id=keluarga.id,
                    major=1,
                    operations=operations,
                    reason="doctored",
                    state="granted",
                )
            )
    before = await world.topic_permissions("pusk")
    try:
        drift = await world.reconciler.sync()
        assert len([p for p in drift.problems if "invalid" in p or "must be a list" in p]) == 5
        assert await world.topic_permissions("pusk") == before
        users = [u["name"] for u in (await world.management.get("/api/users")).json()]
        assert not [u for u in users if "evil" in u]
    finally:
        async with world.store.session() as session:
            for row in (
                await session.scalars(
                    select(AccessRequest).where(AccessRequest.reason == "doctored")
                )
            ).all():
                await session.delete(row)
            for model, name in ((Party, "evil.*"), (Theme, "a|b")):
                row = await session.scalar(select(model).where(model.name == name))
                await session.delete(row)
        assert (await world.reconciler.sync()).problems == []


async def test_no_password_or_token_is_logged(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await world.add_party("secretive", "requester", "publisher")
    response = await world.api.post(
        "/parties/secretive/broker-password", json={}, headers=world.api.as_("admin")
    )
    password = response.json()["broker_password"]
    drift = await world.reconciler.sync()
    secrets = [password, world.passwords["secretive"], world.api.tokens["secretive"]]
    async with world.store.session() as session:
        party = await session.scalar(select(Party).where(Party.name == "secretive"))
        assert party is not None and party.broker_password_hash
        assert password_matches(password, party.broker_password_hash)
    assert "password replaced" in caplog.text
    # passwords and tokens appear in no log line at all (DEBUG, every library)
    assert not [s for s in secrets if s in caplog.text + repr(drift)]
    # the stored hash stays out of SPLP's own logs (a database driver's DEBUG trace may show it)
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("splp"))
    assert party.broker_password_hash not in ours + repr(drift)


async def test_a_dead_broker_does_not_fail_the_directory(world: World) -> None:
    reconciler = world.reconciler
    saved = reconciler.settings
    reconciler.settings = saved.model_copy(
        update={"management_url": "http://guest:guest@127.0.0.1:1"}
    )
    try:
        await world.add_party("while-down", "requester")
        assert await world.permission("while-down") is None
    finally:
        reconciler.settings = saved
    drift = await reconciler.sync()
    assert f"permission {world.user('while-down')}: set" in drift.changes


def test_the_cli_syncs_and_shows_status(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "SPLP_DATABASE_URL": world.settings.database_url,
        "SPLP_VHOST": world.settings.vhost,
        "SPLP_BROKER_USER_PREFIX": world.settings.broker_user_prefix,
    }.items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    result = runner.invoke(app, ["broker", "sync"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["broker", "status"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("in sync")
    assert re.search(r"users\s+(\d+)\s+\1", result.output)


async def test_a_wrong_management_login_is_access_denied_not_unavailable() -> None:
    """Exit 3 (denied) rather than 4 (unavailable) for the CLI: the fix is a password."""
    settings = Settings(management_url="http://guest:not-the-password@127.0.0.1:15672")
    async with Management(settings) as management:
        with pytest.raises(AccessDenied, match=r"answered 401.*administrator"):
            await management.read("/api/overview")
        with pytest.raises(AccessDenied, match="answered 401"):
            await management.request("GET", "/api/vhosts")
