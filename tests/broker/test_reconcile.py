"""The reconciler against the real broker: what it creates, repairs and leaves alone."""

from __future__ import annotations

from urllib.parse import quote

from splp.bus.names import AUDIT_EXCHANGE
from tests.broker.conftest import World


async def test_every_party_has_a_tagged_user_and_the_topology_is_declared(world: World) -> None:
    users = {u["name"]: u for u in (await world.management.get("/api/users")).json()}
    for party in ("dukcapil", "bapenda", "dinsos", "dinkes", "pusk", "admin"):
        assert f"splp:{world.settings.vhost}" in users[world.user(party)]["tags"]
    vhost = quote(world.settings.vhost, safe="")
    queues = {q["name"] for q in (await world.management.get(f"/api/queues/{vhost}")).json()}
    assert {"splp.svc.dukcapil.penduduk.v1", "splp.svc.bapenda.pajak.v1"} <= queues
    status = await world.reconciler.status()
    assert status.plan.empty, status.plan.changes


async def test_permissions_follow_the_design(world: World) -> None:
    requester = await world.permission("dinkes")
    assert (requester["configure"], requester["write"], requester["read"]) == ("^$",) * 3
    publisher = await world.permission("dukcapil")
    assert publisher["configure"] == "^$"
    assert publisher["write"] == r"^(?:amq\.default|splp\.audit)$"
    assert publisher["read"] == (
        r"^(?:splp\.svc\.dukcapil\.keluarga\.v1|splp\.svc\.dukcapil\.penduduk\.v1)$"
    )
    topics = await world.topic_permissions("dukcapil")
    assert topics[AUDIT_EXCHANGE]["write"] == r"^[a-z0-9-]+\.[a-z0-9-]+\.dukcapil\.[a-z0-9-]+$"
    assert await world.permission("admin") is None


async def test_a_permission_deleted_by_hand_is_restored(world: World) -> None:
    before = await world.permission("dukcapil")
    vhost = quote(world.settings.vhost, safe="")
    user = world.user("dukcapil")
    (await world.management.delete(f"/api/permissions/{vhost}/{user}")).raise_for_status()
    (
        await world.management.delete(f"/api/topic-permissions/{vhost}/{user}/{AUDIT_EXCHANGE}")
    ).raise_for_status()
    assert await world.permission("dukcapil") is None
    drift = await world.reconciler.sync()
    assert f"permission {user}: set" in drift.changes
    assert f"topic permission {user} on {AUDIT_EXCHANGE}: set" in drift.changes
    assert await world.permission("dukcapil") == before
    assert (await world.reconciler.sync()).changes == []


async def test_a_widened_permission_is_narrowed_back(world: World) -> None:
    vhost = quote(world.settings.vhost, safe="")
    user = world.user("dinkes")
    body = {"configure": ".*", "write": ".*", "read": ".*"}
    (await world.management.put(f"/api/permissions/{vhost}/{user}", json=body)).raise_for_status()
    drift = await world.reconciler.sync()
    assert drift.changes == [f"permission {user}: set"]
    assert (await world.permission("dinkes"))["write"] == "^$"


async def test_a_stray_binding_on_a_theme_exchange_is_removed(world: World) -> None:
    vhost = quote(world.settings.vhost, safe="")
    m = world.management
    (await m.put(f"/api/queues/{vhost}/eavesdrop", json={"durable": False})).raise_for_status()
    (
        await m.post(
            f"/api/bindings/{vhost}/e/splp.theme.kependudukan/q/eavesdrop",
            json={"routing_key": "#"},
        )
    ).raise_for_status()
    drift = await world.reconciler.sync()
    assert any("eavesdrop (#): removed" in c for c in drift.changes), drift.changes
    bindings = (await m.get(f"/api/queues/{vhost}/eavesdrop/bindings")).json()
    assert [b["source"] for b in bindings] == [""]
    await m.delete(f"/api/queues/{vhost}/eavesdrop")


async def test_a_party_whose_broker_user_is_not_managed_by_splp_is_refused(
    world: World,
) -> None:
    m = world.management
    outsider = world.user("outsider")
    body = {"password": "not-ours", "tags": "management"}
    (await m.put(f"/api/users/{outsider}", json=body)).raise_for_status()
    before = (await m.get(f"/api/users/{outsider}")).json()
    try:
        response = await world.api.post(
            "/parties",
            json={"name": "outsider", "roles": ["requester"]},
            headers=world.api.as_("admin"),
        )
        assert response.status_code == 409, response.text
        assert response.headers["content-type"] == "application/problem+json"
        detail = response.json()["detail"]
        assert f"broker user {outsider} exists" in detail and "not managed by SPLP" in detail
        assert "broker_password" not in response.json()
        shown = await world.api.get("/parties/outsider", headers=world.api.as_("admin"))
        assert shown.status_code == 404  # nothing was stored
        assert (await m.get(f"/api/users/{outsider}")).json() == before
    finally:
        await m.delete(f"/api/users/{outsider}")
    await world.add_party("outsider", "requester")  # once the name is free, it is a 201


async def test_unmanaged_users_are_never_touched(world: World) -> None:
    m = world.management
    stranger = world.user("stranger")
    await world.add_party("stranger", "requester")
    # someone replaces the party's broker user by one of their own
    (await m.delete(f"/api/users/{stranger}")).raise_for_status()
    body = {"password": "not-ours", "tags": "management"}
    (await m.put(f"/api/users/{stranger}", json=body)).raise_for_status()
    before = (await m.get(f"/api/users/{stranger}")).json()
    guest_before = (await m.get("/api/users/guest")).json()
    drift = await world.reconciler.sync()
    assert any(f"user {stranger}: exists on the broker" in p for p in drift.problems)
    assert (await m.get(f"/api/users/{stranger}")).json() == before
    assert (await m.get("/api/users/guest")).json() == guest_before
    assert await world.permission("stranger") is None
    await m.delete(f"/api/users/{stranger}")
    await world.reconciler.sync()
    assert await world.permission("stranger") is not None
