"""The access procedure (Pasal 7): states, who may take each step, history, grants, audit."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiormq
import jsonschema
import pytest

from splp.bus.names import AUDIT_EXCHANGE
from splp.control_plane import close_app, create_app
from splp.directory_service.models import AccessRequest
from splp.settings import Settings
from tests.data_protection import STATEMENT
from tests.directory.conftest import STEP_TERMS, Api, directory_settings, publish, walk

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
STEPS = ("approve", "reject", "grant", "decline", "revoke", "suspend", "resume")
# state -> steps that are legal from it
LEGAL = {
    "submitted": {"approve", "reject"},
    "approved": {"grant", "decline"},
    "granted": {"revoke", "suspend"},
    "suspended": {"resume", "revoke"},
    "rejected": set(),
    "declined": set(),
    "revoked": set(),
}
ACTOR = {  # a party allowed to take the step
    "approve": "admin",
    "reject": "admin",
    "grant": "dukcapil",
    "decline": "dukcapil",
    "revoke": "admin",
    "suspend": "dukcapil",
    "resume": "admin",
}


async def step(api: Api, request_id: int, name: str, party: str, **body: Any) -> Any:
    body.setdefault("reason", f"{name} for the test")
    for key, value in STEP_TERMS.get(name, {}).items():
        body.setdefault(key, value)
    return await api.post(
        f"/access-requests/{request_id}/{name}", json=body, headers=api.as_(party)
    )


async def test_full_walk_records_history(api: Api, penduduk: dict[str, Any]) -> None:
    assert (await publish(api, penduduk)).status_code == 201
    created = await api.post(
        "/access-requests",
        json={
            "service": "dukcapil.penduduk.v1",
            "operations": ["get-by-nik"],
            "reason": "bansos",
            **STATEMENT,
        },
        headers=api.as_("dinsos"),
    )
    assert created.status_code == 201
    request = created.json()
    assert request["state"] == "submitted" and request["requester"] == "dinsos"
    assert request["theme"] == "kependudukan" and request["operations"] == ["get-by-nik"]
    rid = request["id"]
    until = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    for name, party, state in [
        ("approve", "admin", "approved"),
        ("grant", "dukcapil", "granted"),
        ("suspend", "admin", "suspended"),
        ("resume", "dukcapil", "granted"),
        ("revoke", "dukcapil", "revoked"),
    ]:
        extra = (
            {"quota_per_minute": 120, "expires_at": until.isoformat()} if name == "grant" else {}
        )
        response = await step(api, rid, name, party, **extra)
        assert response.status_code == 200, response.text
        assert response.json()["state"] == state
    history = (await api.get(f"/access-requests/{rid}/history", headers=api.as_("dinsos"))).json()
    assert [(e["step"], e["actor"], e["from_state"], e["to_state"]) for e in history] == [
        ("request", "dinsos", None, "submitted"),
        ("approve", "admin", "submitted", "approved"),
        ("grant", "dukcapil", "approved", "granted"),
        ("suspend", "admin", "granted", "suspended"),
        ("resume", "dukcapil", "suspended", "granted"),
        ("revoke", "dukcapil", "granted", "revoked"),
    ]
    assert history[1]["reason"] == "approve for the test"
    times = [datetime.fromisoformat(e["at"]) for e in history]
    assert times == sorted(times)
    final = (await api.get(f"/access-requests/{rid}", headers=api.as_("inspektorat"))).json()
    assert final["quota_per_minute"] == 120
    assert datetime.fromisoformat(final["expires_at"]) == until


@pytest.mark.parametrize("state", sorted(LEGAL))
async def test_every_illegal_step_is_409_with_an_explanation(
    api: Api, penduduk: dict[str, Any], state: str
) -> None:
    rid = await walk(api, penduduk, state)
    for name in STEPS:
        if name in LEGAL[state]:
            continue
        response = await step(api, rid, name, ACTOR[name])
        assert response.status_code == 409, (state, name, response.text)
        problem = response.json()
        assert problem["state"] == state
        assert f"cannot {name} a request that is {state}" in problem["detail"]
    current = (await api.get(f"/access-requests/{rid}", headers=api.as_("admin"))).json()
    assert current["state"] == state
    history = (await api.get(f"/access-requests/{rid}/history", headers=api.as_("admin"))).json()
    assert history[-1]["to_state"] == state


async def test_wrong_actor_is_403_even_in_the_right_state(
    api: Api, penduduk: dict[str, Any]
) -> None:
    rid = await walk(api, penduduk, "submitted")
    for party in ("dukcapil", "bapenda", "dinsos", "inspektorat"):
        assert (await step(api, rid, "approve", party)).status_code == 403
    assert (await step(api, rid, "approve", "admin")).status_code == 200
    for party in ("admin", "dinsos", "inspektorat", "bapenda"):
        response = await step(api, rid, "grant", party)
        assert response.status_code == 403, party
    assert "owns the service" in response.json()["detail"]
    assert (await step(api, rid, "grant", "dukcapil")).status_code == 200
    for party in ("bapenda", "dinsos", "inspektorat"):
        assert (await step(api, rid, "suspend", party)).status_code == 403


async def test_negative_steps_need_a_reason(api: Api, penduduk: dict[str, Any]) -> None:
    rid = await walk(api, penduduk, "submitted")
    response = await step(api, rid, "reject", "admin", reason="")
    assert response.status_code == 422
    assert "needs a reason" in response.json()["detail"]
    assert (
        await step(api, rid, "reject", "admin", reason="outside the mandate")
    ).status_code == 200


async def test_grants_for_the_service_and_for_the_requester(
    api: Api, penduduk: dict[str, Any]
) -> None:
    granted = await walk(api, penduduk, "granted")
    await walk(api, penduduk, "approved")
    suspended = await walk(api, penduduk, "suspended")
    service_grants = await api.get(
        "/services/dukcapil.penduduk.v1/grants", headers=api.as_("dukcapil")
    )
    assert service_grants.status_code == 200
    assert [g["request_id"] for g in service_grants.json()] == [granted]
    grant = service_grants.json()[0]
    assert grant["requester"] == "dinsos" and grant["operations"] is None
    mine = await api.get("/me/grants", headers=api.as_("dinsos"))
    assert mine.json() == service_grants.json()

    etag = mine.headers["etag"]
    again = await api.get("/me/grants", headers={**api.as_("dinsos"), "If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag and not again.content
    assert (await step(api, suspended, "resume", "admin")).status_code == 200
    changed = await api.get("/me/grants", headers={**api.as_("dinsos"), "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert sorted(g["request_id"] for g in changed.json()) == [granted, suspended]


async def test_expired_grants_are_not_in_force(api: Api, penduduk: dict[str, Any]) -> None:
    rid = await walk(api, penduduk, "approved")
    later = datetime.now(UTC) + timedelta(hours=1)
    assert (
        await step(api, rid, "grant", "dukcapil", expires_at=later.isoformat())
    ).status_code == 200
    assert len((await api.get("/me/grants", headers=api.as_("dinsos"))).json()) == 1
    # let the hour pass: move the expiry into the past in the store itself
    async with api.app.state.store.session() as session:  # type: ignore[attr-defined]
        request = await session.get_one(AccessRequest, rid)
        request.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    assert (await api.get("/me/grants", headers=api.as_("dinsos"))).json() == []
    service = await api.get("/services/dukcapil.penduduk.v1/grants", headers=api.as_("dukcapil"))
    assert service.json() == []


async def test_grant_can_narrow_the_operations(api: Api, penduduk: dict[str, Any]) -> None:
    penduduk["operations"]["list-by-village"] = penduduk["operations"]["get-by-nik"]
    rid = await walk(api, penduduk, "approved")
    response = await step(api, rid, "grant", "dukcapil", operations=["nope"])
    assert response.status_code == 422
    response = await step(api, rid, "grant", "dukcapil", operations=["get-by-nik"])
    assert response.status_code == 200
    assert response.json()["operations"] == ["get-by-nik"]


async def test_listing_shows_each_party_only_its_requests(
    api: Api, penduduk: dict[str, Any]
) -> None:
    rid = await walk(api, penduduk, "submitted")
    for party, expected in [
        ("admin", [rid]),
        ("inspektorat", [rid]),
        ("dinsos", [rid]),
        ("dukcapil", [rid]),
        ("bapenda", []),
    ]:
        listed = await api.get("/access-requests", headers=api.as_(party))
        assert [r["id"] for r in listed.json()] == expected, party
    assert (await api.get(f"/access-requests/{rid}", headers=api.as_("bapenda"))).status_code == 403
    by_state = await api.get("/access-requests?state=approved", headers=api.as_("admin"))
    assert by_state.json() == []


async def test_directory_works_without_broker_and_buffers_audit(
    api: Api, penduduk: dict[str, Any]
) -> None:
    await walk(api, penduduk, "granted")
    audit = api.app.state.events  # type: ignore[attr-defined]
    events = await audit.pending()  # in the outbox, committed with each step
    kinds = [event["kind"] for event in events]
    assert kinds[-3:] == ["access.request", "access.approve", "access.grant"]
    assert "admin.service-published" in kinds
    validator = audit_event_validator()
    for event in events:
        assert not list(validator.iter_errors(event)), event


def audit_event_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / "audit-event.schema.json").read_text())
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


async def test_access_events_reach_the_audit_exchange(
    store: Any, parties: dict[str, str], penduduk: dict[str, Any], broker: Settings
) -> None:
    import httpx

    connection = await aiormq.connect(broker.broker_url)
    channel = await connection.channel()
    await channel.exchange_declare(AUDIT_EXCHANGE, exchange_type="topic", durable=True)
    queue = (await channel.queue_declare(exclusive=True)).queue
    await channel.queue_bind(queue, AUDIT_EXCHANGE, routing_key="access.#")
    received: list[dict[str, Any]] = []
    await channel.basic_consume(queue, lambda m: received.extend(json.loads(m.body)), no_ack=True)
    settings = directory_settings(store.url, amqp_url=broker.amqp_url, vhost=broker.vhost)
    app = create_app(settings, store=store)
    try:
        async with Api(transport=httpx.ASGITransport(app), base_url="http://directory") as client:
            client.tokens = parties
            await walk(client, penduduk, "approved")
            for _ in range(200):
                if len(received) >= 2:
                    break
                await asyncio.sleep(0.05)
    finally:
        await close_app(app)
        await connection.close()
    assert [e["kind"] for e in received] == ["access.request", "access.approve"]
    approve = received[1]
    assert approve["source"] == "directory" and approve["actor"] == "admin"
    assert approve["publisher"] == "dukcapil" and approve["service"] == "penduduk"
    assert approve["from_state"] == "submitted" and approve["to_state"] == "approved"
    assert approve["major"] == 1
    assert "reason" not in approve  # metadata only
    validator = audit_event_validator()
    for event in received:
        assert not list(validator.iter_errors(event)), event
