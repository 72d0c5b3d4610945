"""The dry run of a publish (``POST /services/preview``): the same checks as the publish,
the compatibility report against the current version, nothing stored and no audit event;
and ``expect_sha256`` on the publish, so that what is confirmed is what was previewed."""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import func, select

from splp.audit import AuditRecord
from splp.directory_service.models import AccessEvent, AuditOutbox, Service, ServiceVersion
from tests.directory.conftest import Api, publish

PREVIEW = "/services/preview"


def version(document: dict[str, Any], number: str) -> dict[str, Any]:
    return {**copy.deepcopy(document), "version": number}


async def counts(api: Api) -> dict[str, int]:
    """Rows of the tables a publish writes (the catalogue, the audit outbox, the chain)."""
    store = api.app.state.store  # type: ignore[attr-defined]
    found = {}
    async with store.session() as session:
        for model in (Service, ServiceVersion, AuditOutbox, AccessEvent, AuditRecord):
            found[model.__tablename__] = int(
                await session.scalar(select(func.count()).select_from(model)) or 0
            )
    return found


async def test_a_first_version_previews_as_a_new_service_and_stores_nothing(
    api: Api, penduduk: dict[str, Any]
) -> None:
    before = await counts(api)
    answer = await api.post(PREVIEW, json=penduduk, headers=api.as_("dukcapil"))
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["ref"] == "dukcapil.penduduk.v1" and report["version"] == "1.0.0"
    assert report["outcome"] == "new-service" and report["publishable"] is True
    assert report["current_version"] is None
    assert report["breaking_changes"] == [] and report["changes"] == []
    assert len(report["descriptor_sha256"]) == 64
    assert await counts(api) == before
    listed = await api.get("/services", headers=api.as_("dinsos"))
    assert listed.json() == []
    detail = await api.get("/services/dukcapil.penduduk.v1", headers=api.as_("dinsos"))
    assert detail.status_code == 404


async def test_the_report_against_the_current_version(api: Api, penduduk: dict[str, Any]) -> None:
    assert (await publish(api, penduduk)).status_code == 201
    assert (await publish(api, version(penduduk, "1.2.0"))).status_code == 201
    before = await counts(api)
    newer = version(penduduk, "1.3.0")
    newer["operations"]["get-by-nik"]["request"]["properties"]["purpose"] = {"type": "string"}
    newer["operations"]["list-by-village"] = copy.deepcopy(newer["operations"]["get-by-nik"])
    newer["title"] = "Population register (v1.1)"
    compatible = (await api.post(PREVIEW, json=newer, headers=api.as_("dukcapil"))).json()
    assert compatible["outcome"] == "compatible" and compatible["publishable"] is True
    assert compatible["current_version"] == "1.2.0" and compatible["breaking_changes"] == []
    assert compatible["changes"] == [
        {"change": "title-changed"},
        {"change": "request-schema-changed", "operation": "get-by-nik"},
        {"change": "operation-added", "operation": "list-by-village"},
    ]
    breaking = version(penduduk, "1.3.0")
    breaking["operations"]["get-by-nik"]["request"]["properties"]["purpose"] = {"type": "string"}
    breaking["operations"]["get-by-nik"]["request"]["required"] = ["nik", "purpose"]
    refused = (await api.post(PREVIEW, json=breaking, headers=api.as_("dukcapil"))).json()
    assert refused["outcome"] == "breaking" and refused["publishable"] is False
    assert any("purpose" in reason for reason in refused["breaking_changes"])
    major = (
        await api.post(PREVIEW, json=version(breaking, "2.0.0"), headers=api.as_("dukcapil"))
    ).json()
    assert major["outcome"] == "new-major" and major["publishable"] is True
    again = await api.post(PREVIEW, json=penduduk, headers=api.as_("dukcapil"))
    assert again.status_code == 409 and "published already" in again.json()["detail"]
    older = await api.post(PREVIEW, json=version(penduduk, "1.1.0"), headers=api.as_("dukcapil"))
    assert older.status_code == 409 and "must be greater" in older.json()["detail"]
    assert await counts(api) == before
    detail = (await api.get("/services/dukcapil.penduduk.v1", headers=api.as_("dinsos"))).json()
    assert [v["version"] for v in detail["versions"]] == ["1.0.0", "1.2.0"]


async def test_bad_input_is_a_problem(api: Api, penduduk: dict[str, Any]) -> None:
    before = await counts(api)
    owner = api.as_("dukcapil")
    not_json = await api.post(
        PREVIEW, content=b"{not json", headers={**owner, "Content-Type": "application/json"}
    )
    assert not_json.status_code == 400
    assert not_json.headers["content-type"] == "application/problem+json"
    schema = await api.post(PREVIEW, json={**penduduk, "version": "one"}, headers=owner)
    assert schema.status_code == 422 and any(
        "version" in e["pointer"] for e in schema.json()["errors"]
    )
    theme = await api.post(PREVIEW, json={**penduduk, "theme": "pajak"}, headers=owner)
    assert theme.status_code == 422 and "unknown theme" in theme.json()["detail"]
    other = await api.post(PREVIEW, json=penduduk, headers=api.as_("bapenda"))
    assert other.status_code == 403 and "its own services" in other.json()["detail"]
    for party in ("admin", "dinsos", "inspektorat"):
        refused = await api.post(PREVIEW, json=penduduk, headers=api.as_(party))
        assert refused.status_code == 403, party
    assert await counts(api) == before


async def test_the_publish_checks_the_previewed_hash(api: Api, penduduk: dict[str, Any]) -> None:
    owner = api.as_("dukcapil")
    report = (await api.post(PREVIEW, json=penduduk, headers=owner)).json()
    changed = {**penduduk, "title": "Something else"}
    before = await counts(api)
    stale = await api.post(
        "/services",
        json=changed,
        params={"expect_sha256": report["descriptor_sha256"]},
        headers=owner,
    )
    assert stale.status_code == 412, stale.text
    assert stale.json()["type"] == "urn:splp:problem:not-previewed"
    assert await counts(api) == before
    reordered = dict(reversed(list(copy.deepcopy(penduduk).items())))  # the same descriptor
    made = await api.post(
        "/services",
        json=reordered,
        params={"expect_sha256": report["descriptor_sha256"]},
        headers=owner,
    )
    assert made.status_code == 201, made.text
    bad = await api.post("/services", json=penduduk, params={"expect_sha256": "xyz"}, headers=owner)
    assert bad.status_code == 422
