"""Classification drives policy (Musi Banyuasin Pasal 51, UU 27/2022).

For the demo's population register, classified ``personal``: a request must state its
purpose, legal basis and contact (422 naming what is missing), the approval records a
data-protection check, a grant needs an expiry at most a year away and a quota, and the
grants that end soon are listed, and their holders and publishers told, for
re-certification. A grant may list the response fields it allows.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.data_protection import NOTE, STATEMENT, grant_terms
from tests.directory.conftest import Api, publish, walk


async def ask(api: Api, **body: Any) -> Any:
    body = {"service": "dukcapil.penduduk.v1", "reason": "bansos", **body}
    return await api.post("/access-requests", json=body, headers=api.as_("dinsos"))


async def test_a_request_without_a_legal_basis_is_a_422_naming_it(
    api: Api, penduduk: dict[str, Any]
) -> None:
    assert (await publish(api, penduduk)).status_code == 201
    without = {k: v for k, v in STATEMENT.items() if k != "legal_basis"}
    response = await ask(api, **without)
    assert response.status_code == 422
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["missing"] == ["legal_basis"]
    assert "legal_basis" in problem["detail"] and "personal" in problem["detail"]
    blank = await ask(api, **{**STATEMENT, "contact": "   "})
    assert blank.status_code == 422 and blank.json()["missing"] == ["contact"]
    nothing = await ask(api)
    assert nothing.json()["missing"] == ["purpose", "legal_basis", "contact"]
    assert (await api.get("/access-requests", headers=api.as_("admin"))).json() == []
    created = await ask(api, **STATEMENT)
    assert created.status_code == 201
    assert {k: created.json()[k] for k in STATEMENT} == STATEMENT


async def test_an_internal_service_needs_no_statement(api: Api, penduduk: dict[str, Any]) -> None:
    internal = {**copy.deepcopy(penduduk), "service": "statistik", "classification": "internal"}
    for field in internal["operations"]["get-by-nik"]["response"]["properties"].values():
        field.pop("x-splp-personal", None)
    assert (await publish(api, internal)).status_code == 201
    response = await ask(api, service="dukcapil.statistik.v1")
    assert response.status_code == 201, response.text
    rid = response.json()["id"]
    approve = await api.post(
        f"/access-requests/{rid}/approve", json={"reason": "ok"}, headers=api.as_("admin")
    )
    assert approve.status_code == 200
    grant = await api.post(
        f"/access-requests/{rid}/grant", json={"reason": "ok"}, headers=api.as_("dukcapil")
    )
    assert grant.status_code == 200 and grant.json()["expires_at"] is None


async def test_the_approval_records_a_data_protection_check(
    api: Api, penduduk: dict[str, Any]
) -> None:
    rid = await walk(api, penduduk, "submitted")
    path = f"/access-requests/{rid}/approve"
    response = await api.post(path, json={"reason": "ok"}, headers=api.as_("admin"))
    assert response.status_code == 422
    assert response.json()["missing"] == ["data_protection_note"]
    response = await api.post(path, json={"reason": "ok", **NOTE}, headers=api.as_("admin"))
    assert response.status_code == 200
    shown = await api.get(f"/access-requests/{rid}", headers=api.as_("inspektorat"))
    assert shown.json()["data_protection_note"] == NOTE["data_protection_note"]


async def test_a_grant_without_expiry_or_quota_or_beyond_a_year_is_refused(
    api: Api, penduduk: dict[str, Any]
) -> None:
    rid = await walk(api, penduduk, "approved")
    path = f"/access-requests/{rid}/grant"

    async def grant(**body: Any) -> Any:
        return await api.post(path, json={"reason": "ok", **body}, headers=api.as_("dukcapil"))

    no_expiry = await grant(quota_per_minute=60)
    assert no_expiry.status_code == 422
    assert no_expiry.json()["missing"] == ["expires_at"]
    assert "expires_at" in no_expiry.json()["detail"]
    no_quota = await grant(expires_at=grant_terms()["expires_at"])
    assert no_quota.status_code == 422 and no_quota.json()["missing"] == ["quota_per_minute"]
    too_long = await grant(**grant_terms(days=400))
    assert too_long.status_code == 422 and too_long.json()["max_days"] == 365
    state = await api.get(f"/access-requests/{rid}", headers=api.as_("dukcapil"))
    assert state.json()["state"] == "approved"
    assert (await grant(**grant_terms(days=360))).status_code == 200


async def test_a_grant_lists_the_fields_it_allows_and_the_publisher_sees_them(
    api: Api, penduduk: dict[str, Any]
) -> None:
    rid = await walk(api, penduduk, "approved")
    path = f"/access-requests/{rid}/grant"
    body = {"reason": "ok", **grant_terms()}
    unknown = await api.post(
        path, json={**body, "fields": ["name", "salary"]}, headers=api.as_("dukcapil")
    )
    assert unknown.status_code == 422 and "salary" in unknown.json()["detail"]
    granted = await api.post(
        path, json={**body, "fields": ["village", "name"]}, headers=api.as_("dukcapil")
    )
    assert granted.status_code == 200 and granted.json()["fields"] == ["name", "village"]
    grants = await api.get("/services/dukcapil.penduduk.v1/grants", headers=api.as_("dukcapil"))
    assert [(g["request_id"], g["fields"]) for g in grants.json()] == [(rid, ["name", "village"])]


async def test_grants_that_end_soon_are_listed_and_their_parties_told(
    api: Api, penduduk: dict[str, Any]
) -> None:
    soon = await walk(api, penduduk, "approved")
    later = await walk(api, penduduk, "approved")
    for rid, days in ((soon, 10), (later, 200)):
        response = await api.post(
            f"/access-requests/{rid}/grant",
            json={"reason": "ok", **grant_terms(days=days)},
            headers=api.as_("dukcapil"),
        )
        assert response.status_code == 200
    for party in ("admin", "inspektorat", "dinsos", "dukcapil"):
        listed = await api.get("/access-grants/expiring", headers=api.as_(party))
        assert [g["request_id"] for g in listed.json()] == [soon], party
    assert (await api.get("/access-grants/expiring", headers=api.as_("bapenda"))).json() == []
    wider = await api.get("/access-grants/expiring?days=365", headers=api.as_("admin"))
    assert [g["request_id"] for g in wider.json()] == [soon, later]

    told = await api.post("/access-grants/expiring/notify", headers=api.as_("admin"))
    assert told.status_code == 200 and [g["request_id"] for g in told.json()] == [soon]
    buffer = await api.app.state.events.pending()  # type: ignore[attr-defined]
    recertify = [e for e in buffer if e["kind"] == "access.recertify"]
    assert len(recertify) == 1
    assert recertify[0]["notify"] == ["dinsos", "dukcapil"]
    assert recertify[0]["request_id"] == soon
    assert datetime.fromisoformat(recertify[0]["expires_at"]) < datetime.now(UTC) + timedelta(
        days=11
    )
    again = await api.post("/access-grants/expiring/notify", headers=api.as_("admin"))
    assert again.status_code == 200 and again.json() == [], "once per expiry date"
    buffer = await api.app.state.events.pending()  # type: ignore[attr-defined]
    assert len([e for e in buffer if e["kind"] == "access.recertify"]) == 1


@pytest.mark.parametrize("value", ["", "x" * 201, "150801\x000000001"])
async def test_a_subject_lookup_refuses_bad_values_without_echoing_them(
    api: Api, value: str
) -> None:
    response = await api.post(
        "/audit/subject",
        json={"service": "dukcapil.penduduk", "value": value},
        headers=api.as_("inspektorat"),
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    if value:
        assert value not in response.text


async def test_the_subject_key_is_for_publishers_and_rotates(api: Api) -> None:
    first = await api.get("/subject-key", headers=api.as_("dukcapil"))
    assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
    assert (await api.get("/subject-key", headers=api.as_("bapenda"))).json() == first.json()
    assert len(bytes.fromhex(first.json()["secret"])) == 32
    for party in ("dinsos", "inspektorat", "admin"):
        assert (await api.get("/subject-key", headers=api.as_(party))).status_code == 403
    rotated = await api.post("/subject-keys/rotate", headers=api.as_("admin"))
    assert rotated.json() == {"key_id": first.json()["key_id"] + 1}
    second = (await api.get("/subject-key", headers=api.as_("dukcapil"))).json()
    assert (
        second["key_id"] == rotated.json()["key_id"] and second["secret"] != first.json()["secret"]
    )
    buffer = await api.app.state.events.pending()  # type: ignore[attr-defined]
    rotations = [e for e in buffer if e["kind"] == "admin.subject-key-rotated"]
    assert [e["key_id"] for e in rotations] == [second["key_id"]]
    assert all(second["secret"] not in json.dumps(e) for e in buffer)


async def test_the_catalogue_shows_master_data_and_warns_of_a_second_source(
    api: Api, penduduk: dict[str, Any]
) -> None:
    first = await publish(api, penduduk)
    assert first.status_code == 201 and first.json()["warnings"] == []
    listed = (await api.get("/services", headers=api.as_("dinsos"))).json()
    [summary] = listed
    assert summary["data_management"] == {
        "steward": "Dinas Kependudukan dan Pencatatan Sipil",
        "kind": "master",
        "update_frequency": "daily",
        "source_of_truth": "SIAK",
        "authoritative_for": ["nik"],
    }
    assert summary["subject_field"] == "nik"
    assert summary["personal_fields"] == ["birth_date", "name", "nik"]
    # a second service of another publisher claims to be the source of NIKs too
    copy_ = {**copy.deepcopy(penduduk), "publisher": "bapenda", "service": "wajib-pajak"}
    second = await publish(api, copy_, party="bapenda")
    assert second.status_code == 201
    [warning] = second.json()["warnings"]
    assert "dukcapil.penduduk.v1" in warning and "nik" in warning
    # a new version of the same service is no second source of its own; the other one is
    newer = {**copy.deepcopy(penduduk), "version": "1.1.0"}
    [again] = (await publish(api, newer)).json()["warnings"]
    assert "bapenda.wajib-pajak.v1" in again and "dukcapil.penduduk" not in again
    shown = await api.get("/services/dukcapil.penduduk.v1", headers=api.as_("dinsos"))
    assert shown.json()["data_management"]["source_of_truth"] == "SIAK"


async def test_personal_fields_need_a_personal_classification(
    api: Api, penduduk: dict[str, Any]
) -> None:
    public = {**copy.deepcopy(penduduk), "service": "terbuka", "classification": "public"}
    response = await publish(api, public)
    assert response.status_code == 422
    assert "x-splp-personal" in response.text and "birth_date, name, nik" in response.text


async def test_a_field_list_is_refused_for_an_operation_that_answers_no_objects(
    api: Api, penduduk: dict[str, Any]
) -> None:
    """A grant's field list applies to an object reply or a list of objects: for a list of
    names, or a reply of any type, it would mean nothing (the adapter would answer 500)."""
    operations = penduduk["operations"]
    person = operations["get-by-nik"]["response"]
    operations["search"] = {
        "request": {"type": "object"},
        "response": {"type": "array", "items": person},
    }
    operations["villages"] = {
        "request": {"type": "object"},
        "response": {"type": "array", "items": {"type": "string"}},
    }
    operations["anything"] = {"request": {"type": "object"}, "response": {}}
    rid = await walk(api, penduduk, "approved")
    path = f"/access-requests/{rid}/grant"
    body = {"reason": "ok", **grant_terms(), "fields": ["name", "village"]}
    whole = await api.post(path, json=body, headers=api.as_("dukcapil"))
    assert whole.status_code == 422
    assert whole.headers["content-type"] == "application/problem+json"
    problem = whole.json()
    assert problem["operations"] == ["anything", "villages"]
    assert "anything, villages" in problem["detail"] and "object" in problem["detail"]
    one = {**body, "operations": ["villages"], "fields": ["name"]}
    refused = await api.post(path, json=one, headers=api.as_("dukcapil"))
    assert refused.status_code == 422 and refused.json()["operations"] == ["villages"]
    state = await api.get(f"/access-requests/{rid}", headers=api.as_("dukcapil"))
    assert state.json()["state"] == "approved"
    # an object and a list of objects take the same field list
    objects = {**body, "operations": ["get-by-nik", "search"]}
    granted = await api.post(path, json=objects, headers=api.as_("dukcapil"))
    assert granted.status_code == 200, granted.text
    assert granted.json()["fields"] == ["name", "village"]


async def test_a_sensitive_service_gets_the_policy_of_personal_data(
    api: Api, penduduk: dict[str, Any]
) -> None:
    sensitive = {**copy.deepcopy(penduduk), "service": "rekam-medis", "classification": "sensitive"}
    assert (await publish(api, sensitive)).status_code == 201
    nothing = await ask(api, service="dukcapil.rekam-medis.v1")
    assert nothing.status_code == 422
    assert nothing.json()["missing"] == ["purpose", "legal_basis", "contact"]
    assert "sensitive" in nothing.json()["detail"]
    without = {k: v for k, v in STATEMENT.items() if k != "contact"}
    no_contact = await ask(api, service="dukcapil.rekam-medis.v1", **without)
    assert no_contact.status_code == 422 and no_contact.json()["missing"] == ["contact"]
    created = await ask(api, service="dukcapil.rekam-medis.v1", **STATEMENT)
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    approve = f"/access-requests/{rid}/approve"
    unchecked = await api.post(approve, json={"reason": "ok"}, headers=api.as_("admin"))
    assert unchecked.status_code == 422
    assert unchecked.json()["missing"] == ["data_protection_note"]
    approved = await api.post(approve, json={"reason": "ok", **NOTE}, headers=api.as_("admin"))
    assert approved.status_code == 200

    async def grant(**body: Any) -> Any:
        return await api.post(
            f"/access-requests/{rid}/grant",
            json={"reason": "ok", **body},
            headers=api.as_("dukcapil"),
        )

    no_expiry = await grant(quota_per_minute=60)
    assert no_expiry.status_code == 422 and no_expiry.json()["missing"] == ["expires_at"]
    no_quota = await grant(expires_at=grant_terms()["expires_at"])
    assert no_quota.status_code == 422 and no_quota.json()["missing"] == ["quota_per_minute"]
    too_long = await grant(**grant_terms(days=400))
    assert too_long.status_code == 422 and too_long.json()["max_days"] == 365
    assert (await grant(**grant_terms())).status_code == 200
