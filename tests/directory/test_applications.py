"""Applications with client credentials, and what the HTTP gateway reads (issue 13).

Runs on SQLite and PostgreSQL like the rest of the directory suite.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from splp.directory_service import dump
from splp.directory_service.models import AccessRequest, Application
from tests.data_protection import BIG_QUOTA
from tests.directory.conftest import Api, walk
from tests.directory.test_access import audit_event_validator

PROBLEM_JSON = "application/problem+json"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def add(api: Api, party: str = "dinsos", as_: str = "admin", **body: Any) -> Any:
    body.setdefault("name", "sipd")
    return await api.post(f"/parties/{party}/clients", json=body, headers=api.as_(as_))


async def test_an_application_gets_credentials_shown_once_and_stored_hashed(api: Api) -> None:
    created = await add(api, api_key=True)
    assert created.status_code == 201, created.text
    issued = created.json()
    assert issued["party"] == "dinsos" and issued["name"] == "sipd"
    assert issued["client_id"].startswith("splp-app-") and len(issued["client_id"]) == 25
    assert len(issued["client_secret"]) >= 43 and issued["api_key"].startswith("splp_ak_")
    async with api.app.state.store.session() as session:  # type: ignore[attr-defined]
        stored = (await session.scalars(select(Application))).one()
    assert stored.secret_hash == sha256(issued["client_secret"])
    assert stored.api_key_hash == sha256(issued["api_key"])
    document = json.dumps(await dump(api.app.state.store), default=str)  # type: ignore[attr-defined]
    assert issued["client_secret"] not in document and issued["api_key"] not in document
    listed = await api.get("/parties/dinsos/clients", headers=api.as_("inspektorat"))
    assert listed.status_code == 200
    assert [(a["name"], a["client_id"], a["api_key"]) for a in listed.json()] == [
        ("sipd", issued["client_id"], True)
    ]
    assert issued["client_secret"] not in listed.text and "hash" not in listed.text
    plain = await add(api, name="e-bansos", as_="dinsos")  # the party itself may add one
    assert plain.status_code == 201 and plain.json()["api_key"] is None
    assert plain.json()["client_id"] != issued["client_id"]
    assert plain.json()["client_secret"] != issued["client_secret"]


async def test_revoked_applications_leave_the_gateways_credentials(api: Api) -> None:
    first = (await add(api, api_key=True)).json()
    second = (await add(api, name="e-bansos")).json()
    feed = await api.get("/gateway/credentials", headers=api.as_("gerbang"))
    assert feed.status_code == 200
    assert sorted(feed.json(), key=lambda c: c["client_id"]) == sorted(
        [
            {
                "client_id": first["client_id"],
                "party": "dinsos",
                "application": "sipd",
                "secret_hash": sha256(first["client_secret"]),
                "api_key_hash": sha256(first["api_key"]),
            },
            {
                "client_id": second["client_id"],
                "party": "dinsos",
                "application": "e-bansos",
                "secret_hash": sha256(second["client_secret"]),
                "api_key_hash": None,
            },
        ],
        key=lambda c: c["client_id"],
    )
    etag = feed.headers["etag"]
    same = await api.get(
        "/gateway/credentials", headers={**api.as_("gerbang"), "If-None-Match": etag}
    )
    assert same.status_code == 304 and same.headers["etag"] == etag
    revoked = await api.delete(
        f"/parties/dinsos/clients/{first['client_id']}", headers=api.as_("dinsos")
    )
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    changed = await api.get(
        "/gateway/credentials", headers={**api.as_("gerbang"), "If-None-Match": etag}
    )
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert [c["client_id"] for c in changed.json()] == [second["client_id"]]
    active = await api.get("/parties/dinsos/clients", headers=api.as_("dinsos"))
    assert [a["name"] for a in active.json()] == ["e-bansos"]
    every = await api.get("/parties/dinsos/clients?revoked=true", headers=api.as_("dinsos"))
    assert sorted(a["name"] for a in every.json()) == ["e-bansos", "sipd"]
    again = await add(api)  # a revoked name may be issued again
    assert again.status_code == 201 and again.json()["client_id"] != first["client_id"]


async def test_a_party_that_loses_the_requester_role_leaves_the_feed(api: Api) -> None:
    await add(api)
    async with api.app.state.store.session() as session:  # type: ignore[attr-defined]
        from splp.directory_service.models import Party

        party = await session.scalar(select(Party).where(Party.name == "dinsos"))
        assert party is not None
        party.roles = ["monitor"]
    feed = await api.get("/gateway/credentials", headers=api.as_("gerbang"))
    assert feed.json() == []


@pytest.mark.parametrize(
    ("party", "body", "status", "words"),
    [
        ("dinsos", {"name": "Sipd"}, 422, "name"),
        ("dinsos", {"name": "si.pd"}, 422, "name"),
        ("dinsos", {"name": ""}, 422, "name"),
        ("dinsos", {"name": "x" * 64}, 422, "name"),
        ("dinsos", {"name": "sipd", "api_key": "yes please"}, 422, "api_key"),
        ("dinsos", {"name": "sipd", "secret": "mine"}, 422, "secret"),
        ("dinsos", {}, 422, "name"),
        ("dinsos", [], 422, ""),
        ("dukcapil", {"name": "sipd"}, 422, "not a requester"),
        ("nobody", {"name": "sipd"}, 404, "no party named 'nobody'"),
    ],
)
async def test_bad_applications_are_refused_and_change_nothing(
    api: Api, party: str, body: Any, status: int, words: str
) -> None:
    response = await api.post(f"/parties/{party}/clients", json=body, headers=api.as_("admin"))
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert words in response.text
    async with api.app.state.store.session() as session:  # type: ignore[attr-defined]
        assert (await session.scalars(select(Application))).all() == []


async def test_a_duplicate_name_and_bad_revocations_are_clear_problems(api: Api) -> None:
    issued = (await add(api)).json()
    duplicate = await add(api)
    assert duplicate.status_code == 409 and "sipd" in duplicate.json()["detail"]
    for path, status in [
        ("/parties/dinsos/clients/splp-app-nope", 404),
        (f"/parties/bapenda/clients/{issued['client_id']}", 404),  # not bapenda's
        (f"/parties/nobody/clients/{issued['client_id']}", 404),
        ("/parties/dinsos/clients/" + "x" * 41, 422),
    ]:
        response = await api.delete(path, headers=api.as_("admin"))
        assert response.status_code == status, (path, response.text)
        assert response.headers["content-type"] == PROBLEM_JSON
    path = f"/parties/dinsos/clients/{issued['client_id']}"
    assert (await api.delete(path, headers=api.as_("admin"))).status_code == 200
    twice = await api.delete(path, headers=api.as_("admin"))
    assert twice.status_code == 409 and "revoked already" in twice.json()["detail"]
    other = await api.get("/parties/dinsos/clients", headers=api.as_("bapenda"))
    assert other.status_code == 403 and "be dinsos itself" in other.json()["detail"]
    unknown = await api.get("/parties/nobody/clients", headers=api.as_("admin"))
    assert unknown.status_code == 404


async def test_a_rotated_secret_replaces_the_old_one_at_the_gateway(api: Api) -> None:
    first = (await add(api, api_key=True)).json()
    path = f"/parties/dinsos/clients/{first['client_id']}/secret"
    listed = (await api.get("/parties/dinsos/clients", headers=api.as_("dinsos"))).json()
    assert listed[0]["secret_rotated_at"] is None
    rotated = await api.post(path, headers=api.as_("dinsos"))
    assert rotated.status_code == 200, rotated.text
    fresh = rotated.json()
    assert (fresh["client_id"], fresh["name"], fresh["api_key"]) == (
        first["client_id"],
        "sipd",
        None,
    )
    assert fresh["client_secret"].startswith("splp_cs_")
    assert fresh["client_secret"] != first["client_secret"]
    feed = (await api.get("/gateway/credentials", headers=api.as_("gerbang"))).json()
    assert [(c["secret_hash"], c["api_key_hash"]) for c in feed] == [
        (sha256(fresh["client_secret"]), sha256(first["api_key"]))  # the API key stays
    ]
    listed = (await api.get("/parties/dinsos/clients", headers=api.as_("dinsos"))).json()
    moment = datetime.fromisoformat(listed[0]["secret_rotated_at"])
    assert abs(moment - datetime.now(UTC)) < timedelta(minutes=1)
    assert fresh["client_secret"] not in json.dumps(listed)
    other = await api.post(path, headers=api.as_("bapenda"))
    assert other.status_code == 403 and other.headers["content-type"] == PROBLEM_JSON
    unknown = await api.post(
        "/parties/dinsos/clients/splp-app-nope/secret", headers=api.as_("admin")
    )
    assert unknown.status_code == 404 and unknown.headers["content-type"] == PROBLEM_JSON
    await api.delete(f"/parties/dinsos/clients/{first['client_id']}", headers=api.as_("admin"))
    revoked = await api.post(path, headers=api.as_("admin"))
    assert revoked.status_code == 409 and "revoked already" in revoked.json()["detail"]
    events = [
        e
        for e in await api.app.state.events.pending()  # type: ignore[attr-defined]
        if e["kind"] == "admin.client-rotated"
    ]
    assert [(e["actor"], e["party"], e["client_id"]) for e in events] == [
        ("dinsos", "dinsos", first["client_id"])
    ]
    assert fresh["client_secret"] not in json.dumps(events)
    assert not list(audit_event_validator().iter_errors(events[0]))


async def test_client_events_are_metadata_only(api: Api) -> None:
    issued = (await add(api, api_key=True)).json()
    await api.delete(f"/parties/dinsos/clients/{issued['client_id']}", headers=api.as_("admin"))
    events = [
        e
        for e in await api.app.state.events.pending()  # type: ignore[attr-defined]
        if e["kind"].startswith("admin.client")
    ]
    assert [e["kind"] for e in events] == ["admin.client-added", "admin.client-revoked"]
    added = events[0]
    assert (added["actor"], added["party"], added["application"]) == ("admin", "dinsos", "sipd")
    assert added["client_id"] == issued["client_id"] and added["with_api_key"] is True
    text = json.dumps(events)
    assert issued["client_secret"] not in text and issued["api_key"] not in text
    assert sha256(issued["client_secret"]) not in text
    validator = audit_event_validator()
    for event in events:
        assert not list(validator.iter_errors(event)), event


async def test_the_gateway_reads_every_grant_in_force_of_a_requester(
    api: Api, penduduk: dict[str, Any]
) -> None:
    granted = await walk(api, penduduk, "granted")
    await walk(api, penduduk, "suspended")
    await walk(api, penduduk, "approved")
    narrowed = await walk(api, penduduk, "approved")
    later = datetime.now(UTC) + timedelta(hours=1)
    response = await api.post(
        f"/access-requests/{narrowed}/grant",
        json={
            "operations": ["get-by-nik"],
            "quota_per_minute": 60,
            "expires_at": later.isoformat(),
        },
        headers=api.as_("dukcapil"),
    )
    assert response.status_code == 200, response.text
    feed = await api.get("/gateway/grants", headers=api.as_("gerbang"))
    assert feed.status_code == 200
    assert [
        (g["request_id"], g["requester"], g["service"], g["theme"], g["operations"])
        for g in feed.json()
    ] == [
        (granted, "dinsos", "dukcapil.penduduk.v1", "kependudukan", None),
        (narrowed, "dinsos", "dukcapil.penduduk.v1", "kependudukan", ["get-by-nik"]),
    ]
    assert feed.json()[0]["quota_per_minute"] == BIG_QUOTA and feed.json()[0]["expires_at"]
    assert feed.json()[1]["quota_per_minute"] == 60
    assert abs(datetime.fromisoformat(feed.json()[1]["expires_at"]) - later) < timedelta(seconds=1)
    # the same as the publisher's view of its service's grants
    service = await api.get("/services/dukcapil.penduduk.v1/grants", headers=api.as_("dukcapil"))
    assert feed.json() == service.json()
    etag = feed.headers["etag"]
    async with api.app.state.store.session() as session:  # type: ignore[attr-defined]
        request = await session.get_one(AccessRequest, narrowed)
        request.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    expired = await api.get(
        "/gateway/grants", headers={**api.as_("gerbang"), "If-None-Match": etag}
    )
    assert expired.status_code == 200 and [g["request_id"] for g in expired.json()] == [granted]
    unchanged = await api.get(
        "/gateway/grants", headers={**api.as_("gerbang"), "If-None-Match": expired.headers["etag"]}
    )
    assert unchanged.status_code == 304
    await api.post(
        f"/access-requests/{granted}/suspend", json={"reason": "misuse"}, headers=api.as_("admin")
    )
    suspended = await api.get("/gateway/grants", headers=api.as_("gerbang"))
    assert suspended.json() == []
