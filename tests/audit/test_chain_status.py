"""``GET /audit/verify``: the latest signed anchor and its signature, and a bounded check
of the records since it (or of the last ones), which names a record edited in the database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from splp.audit import AuditStore
from splp.audit.anchors import Anchoring
from splp.audit.chain_status import chain_status
from splp.audit.keys import SigningKey
from tests.audit.conftest import events
from tests.directory.conftest import Api


@pytest.fixture
async def audit_api(api: Api) -> AsyncIterator[Api]:
    response = await api.get("/audit/events", headers=api.as_("admin"))
    assert response.status_code == 200, response.text
    yield api


def store_of(api: Api) -> AuditStore:
    store: AuditStore = api.app.state.audit_store  # type: ignore[attr-defined]
    return store


async def status(api: Api, **params: int) -> dict[str, Any]:
    answer = await api.get("/audit/verify", params=params, headers=api.as_("inspektorat"))
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def edit(store: AuditStore, seq: int) -> None:
    async with store.engine.begin() as connection:
        event = (
            await connection.execute(text(f"SELECT event FROM audit_records WHERE seq = {seq}"))
        ).scalar_one()
        changed = {**orjson.loads(event), "status": 500}
        await connection.execute(
            text(f"UPDATE audit_records SET event = :e WHERE seq = {seq}"),
            {"e": orjson.dumps(changed).decode()},
        )


async def test_without_an_anchor_the_last_records_are_checked(audit_api: Api) -> None:
    store = store_of(audit_api)
    empty = await status(audit_api)
    assert empty["head"]["seq"] == 0 and empty["anchor"] is None and empty["ok"]
    assert empty["segment"]["checked"] == 0 and empty["segment"]["reached_head"]
    await store.append([(e, None) for e in events(12)])
    found = await status(audit_api, limit=5)
    assert found["head"]["seq"] == 12 and found["anchor"] is None
    segment = found["segment"]
    assert segment["basis"] == "last-records"
    assert (segment["from_seq"], segment["to_seq"], segment["checked"]) == (8, 12, 5)
    assert segment["reached_head"] and segment["ok"] and found["ok"]
    await edit(store, 10)
    broken = await status(audit_api, limit=5)
    assert not broken["ok"] and broken["segment"]["bad_seq"] == 10
    assert "modified" in broken["segment"]["problem"]
    assert (await status(audit_api, limit=2))["ok"]  # record 10 is outside the last two


async def test_from_the_latest_anchor_with_its_signature(audit_api: Api) -> None:
    store = store_of(audit_api)
    key = SigningKey.generate()
    anchoring = Anchoring(store, key, every=1)
    await store.append([(e, None) for e in events(6)])
    await anchoring.after(6)
    await store.append([(e, None) for e in events(4)])
    found = await status(audit_api)
    anchor = found["anchor"]
    assert (anchor["seq"], anchor["key_id"]) == (6, key.key_id)
    assert anchor["signature_valid"] and anchor["record_matches"]
    assert anchor["key_is_served"] is None  # this app has no key file
    segment = found["segment"]
    assert segment["basis"] == "anchor" and (segment["from_seq"], segment["to_seq"]) == (7, 10)
    assert segment["checked"] == 4 and segment["reached_head"] and found["ok"]
    bounded = (await status(audit_api, limit=3))["segment"]
    assert bounded["checked"] == 3 and bounded["to_seq"] == 9 and not bounded["reached_head"]
    await edit(store, 8)
    assert (await status(audit_api))["segment"]["bad_seq"] == 8
    async with store.engine.begin() as connection:
        await connection.execute(text("UPDATE audit_anchors SET signature = 'AAAA'"))
    forged = await status(audit_api)
    assert not forged["anchor"]["signature_valid"] and not forged["ok"]
    assert forged["segment"]["basis"] == "last-records"


async def test_the_served_key_is_named(audit_api: Api, tmp_path: Path) -> None:
    store = store_of(audit_api)
    key, other = SigningKey.generate(), SigningKey.generate()
    key.write(tmp_path / "sink.pem")
    other.write(tmp_path / "other.pem")
    await store.append([(e, None) for e in events(3)])
    await Anchoring(store, key, every=1).after(3)
    served = await chain_status(store, tmp_path / "sink.pem", 100)
    assert served["anchor"]["key_is_served"] is True and served["ok"]
    unknown = await chain_status(store, tmp_path / "other.pem", 100)
    assert unknown["anchor"]["key_is_served"] is False


@pytest.mark.parametrize("limit", ["0", "100001", "x"])
async def test_a_bad_limit_is_a_422(audit_api: Api, limit: str) -> None:
    answer = await audit_api.get(
        "/audit/verify", params={"limit": limit}, headers=audit_api.as_("admin")
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
