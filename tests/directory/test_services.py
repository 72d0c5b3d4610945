"""Themes and services: publish, versions, breaking changes, lifecycle, search, exports."""

from __future__ import annotations

import copy
from typing import Any

from tests.directory.conftest import Api, publish


def version(document: dict[str, Any], number: str) -> dict[str, Any]:
    return {**copy.deepcopy(document), "version": number}


async def test_publish_then_show_with_schemas(api: Api, penduduk: dict[str, Any]) -> None:
    response = await publish(api, penduduk)
    assert response.status_code == 201
    detail = (await api.get("/services/dukcapil.penduduk.v1", headers=api.as_("dinsos"))).json()
    assert detail["ref"] == "dukcapil.penduduk.v1" and detail["version"] == "1.0.0"
    assert detail["theme"] == "kependudukan" and detail["classification"] == "personal"
    assert detail["operations"] == ["get-by-nik"]
    assert detail["descriptor"]["operations"]["get-by-nik"]["request"]["required"] == ["nik"]
    assert [v["version"] for v in detail["versions"]] == ["1.0.0"]


async def test_compatible_minor_version_becomes_current(api: Api, penduduk: dict[str, Any]) -> None:
    assert (await publish(api, penduduk)).status_code == 201
    newer = version(penduduk, "1.1.0")
    newer["operations"]["get-by-nik"]["request"]["properties"]["purpose"] = {"type": "string"}
    newer["operations"]["list-by-village"] = copy.deepcopy(newer["operations"]["get-by-nik"])
    response = await publish(api, newer)
    assert response.status_code == 201, response.text
    detail = response.json()
    assert detail["version"] == "1.1.0"
    assert [v["version"] for v in detail["versions"]] == ["1.0.0", "1.1.0"]
    assert detail["operations"] == ["get-by-nik", "list-by-village"]


async def test_breaking_minor_version_is_refused_with_reasons(
    api: Api, penduduk: dict[str, Any]
) -> None:
    assert (await publish(api, penduduk)).status_code == 201
    cases = []
    required = version(penduduk, "1.1.0")
    required["operations"]["get-by-nik"]["request"]["properties"]["purpose"] = {"type": "string"}
    required["operations"]["get-by-nik"]["request"]["required"] = ["nik", "purpose"]
    cases.append((required, "purpose"))
    removed = version(penduduk, "1.0.1")
    removed["operations"]["get-by-nik"]["response"]["properties"].pop("village")
    removed["operations"]["get-by-nik"]["response"]["required"] = ["nik", "name"]
    cases.append((removed, "village"))
    narrowed = version(penduduk, "1.1.0")
    narrowed["operations"]["get-by-nik"]["request"]["properties"]["nik"]["type"] = "integer"
    narrowed["operations"]["get-by-nik"]["request"]["properties"]["nik"].pop("pattern")
    cases.append((narrowed, "nik"))
    gone = version(penduduk, "1.1.0")
    gone["operations"] = {"find": gone["operations"].pop("get-by-nik")}
    cases.append((gone, "get-by-nik"))
    for document, word in cases:
        response = await publish(api, document)
        assert response.status_code == 409, response.text
        problem = response.json()
        assert problem["type"] == "urn:splp:problem:breaking-change"
        assert problem["breaking_changes"] and any(word in r for r in problem["breaking_changes"])
        assert "2.0.0" in problem["detail"]
    # the same change as a new major version is fine
    response = await publish(api, version(required, "2.0.0"))
    assert response.status_code == 201
    listed = (await api.get("/services", headers=api.as_("dinsos"))).json()
    assert [(s["ref"], s["version"]) for s in listed] == [
        ("dukcapil.penduduk.v1", "1.0.0"),
        ("dukcapil.penduduk.v2", "2.0.0"),
    ]


async def test_only_the_publisher_itself_publishes(api: Api, penduduk: dict[str, Any]) -> None:
    response = await publish(api, penduduk, party="bapenda")
    assert response.status_code == 403
    assert "its own services" in response.json()["detail"]
    for party in ("admin", "dinsos", "inspektorat"):
        assert (await publish(api, penduduk, party=party)).status_code == 403


async def test_search_by_theme_publisher_and_text(api: Api, penduduk: dict[str, Any]) -> None:
    response = await api.post(
        "/themes", json={"name": "pendapatan", "title": "Revenue"}, headers=api.as_("admin")
    )
    assert response.status_code == 201
    assert (await publish(api, penduduk)).status_code == 201
    tax = {
        **copy.deepcopy(penduduk),
        "publisher": "bapenda",
        "service": "pbb",
        "theme": "pendapatan",
        "title": "Land and building tax",
        "description": "Tax due per object",
    }
    assert (await publish(api, tax, party="bapenda")).status_code == 201

    async def refs(**params: str) -> list[str]:
        found = await api.get("/services", params=params, headers=api.as_("dinsos"))
        assert found.status_code == 200
        return [s["ref"] for s in found.json()]

    assert await refs() == ["bapenda.pbb.v1", "dukcapil.penduduk.v1"]
    assert await refs(theme="kependudukan") == ["dukcapil.penduduk.v1"]
    assert await refs(publisher="bapenda") == ["bapenda.pbb.v1"]
    assert await refs(q="TAX building") == ["bapenda.pbb.v1"]
    assert await refs(q="population REGISTER") == ["dukcapil.penduduk.v1"]
    assert await refs(q="get-by-nik") == ["bapenda.pbb.v1", "dukcapil.penduduk.v1"]
    assert await refs(q="nothing-like-this") == []
    assert await refs(theme="kesehatan") == []


async def test_lifecycle_moves_and_hides_retired(api: Api, penduduk: dict[str, Any]) -> None:
    assert (await publish(api, penduduk)).status_code == 201
    path = "/services/dukcapil.penduduk.v1/versions/1.0.0/lifecycle"
    for party, body, status in [
        ("bapenda", {"lifecycle": "deprecated"}, 403),
        ("dinsos", {"lifecycle": "deprecated"}, 403),
        ("dukcapil", {"lifecycle": "deprecated", "reason": "use v2"}, 200),
        ("dukcapil", {"lifecycle": "deprecated"}, 409),
        ("dukcapil", {"lifecycle": "gone"}, 422),
        ("admin", {"lifecycle": "retired"}, 200),
        ("dukcapil", {"lifecycle": "published"}, 409),
    ]:
        response = await api.put(path, json=body, headers=api.as_(party))
        assert response.status_code == status, (party, body, response.text)
    missing = await api.put(
        "/services/dukcapil.penduduk.v1/versions/9.9.9/lifecycle",
        json={"lifecycle": "retired"},
        headers=api.as_("dukcapil"),
    )
    assert missing.status_code == 404
    assert (await api.get("/services", headers=api.as_("dinsos"))).json() == []
    hidden = await api.get("/services?include_retired=true", headers=api.as_("dinsos"))
    assert [s["lifecycle"] for s in hidden.json()] == ["retired"]
    response = await api.post(
        "/access-requests",
        json={"service": "dukcapil.penduduk.v1", "reason": "late"},
        headers=api.as_("dinsos"),
    )
    assert response.status_code == 409
    assert "retired" in response.json()["detail"]


async def test_descriptor_and_detail_carry_etags(api: Api, penduduk: dict[str, Any]) -> None:
    assert (await publish(api, penduduk)).status_code == 201
    for path in ("/services/dukcapil.penduduk.v1/descriptor", "/services/dukcapil.penduduk.v1"):
        first = await api.get(path, headers=api.as_("dinsos"))
        etag = first.headers["etag"]
        cached = await api.get(path, headers={**api.as_("dinsos"), "If-None-Match": etag})
        assert cached.status_code == 304
    assert (
        first.json()["descriptor"]
        == (
            await api.get("/services/dukcapil.penduduk.v1/descriptor", headers=api.as_("dinsos"))
        ).json()
    )
    newer = version(penduduk, "1.0.1")
    newer["description"] = "patched"
    assert (await publish(api, newer)).status_code == 201
    changed = await api.get(
        "/services/dukcapil.penduduk.v1/descriptor",
        headers={**api.as_("dinsos"), "If-None-Match": etag},
    )
    assert changed.status_code == 200 and changed.json()["version"] == "1.0.1"
    old = await api.get(
        "/services/dukcapil.penduduk.v1/descriptor?version=1.0.0", headers=api.as_("dinsos")
    )
    assert old.json()["version"] == "1.0.0"


async def test_exports(api: Api, penduduk: dict[str, Any]) -> None:
    assert (await publish(api, penduduk)).status_code == 201
    openapi = await api.get("/services/dukcapil.penduduk.v1/openapi", headers=api.as_("dinsos"))
    assert openapi.status_code == 200
    document = openapi.json()
    assert document["openapi"].startswith("3.")
    assert any("get-by-nik" in path for path in document["paths"])
    asyncapi = await api.get("/themes/kependudukan/asyncapi", headers=api.as_("dinsos"))
    assert asyncapi.status_code == 200
    document = asyncapi.json()
    assert document["asyncapi"].startswith("3.")
    assert "dukcapil.penduduk.v1.get-by-nik" in str(document["channels"])


async def test_openapi_for_the_national_portal(api: Api, penduduk: dict[str, Any]) -> None:
    """``?server=`` puts the real gateway in the document (paths, token URL), ``?openapi=3.0``
    gives a 3.0 document that the national platform's publisher portal can import."""
    from openapi_spec_validator import validate

    assert (await publish(api, penduduk)).status_code == 201
    path = "/services/dukcapil.penduduk.v1/openapi"
    gateway = "https://splp.bungokab.go.id"
    response = await api.get(
        path, params={"server": gateway, "openapi": "3.0"}, headers=api.as_("dinsos")
    )
    assert response.status_code == 200, response.text
    document = response.json()
    validate(document)
    assert document["openapi"] == "3.0.3"
    assert document["servers"] == [
        {"url": f"{gateway}/api", "description": "The regency's SPLP HTTP gateway."}
    ]
    flows = document["components"]["securitySchemes"]["clientCredentials"]["flows"]
    assert flows["clientCredentials"]["tokenUrl"] == f"{gateway}/oauth2/token"
    assert document["info"]["contact"]["name"]
    assert "$schema" not in str(document) and "'const'" not in str(document)
    assert list(document["paths"]) == [
        "/dukcapil/penduduk/v1/get-by-nik",
        *[p for p in document["paths"] if p != "/dukcapil/penduduk/v1/get-by-nik"],
    ]
    for bad in ({"server": "javascript:alert(1)"}, {"server": "x" * 300}, {"openapi": "2.0"}):
        refused = await api.get(path, params=bad, headers=api.as_("dinsos"))
        assert refused.status_code == 422, bad


async def test_themes(api: Api) -> None:
    response = await api.post(
        "/themes", json={"name": "kesehatan", "title": "Health"}, headers=api.as_("admin")
    )
    assert response.status_code == 201
    again = await api.post("/themes", json={"name": "kesehatan"}, headers=api.as_("admin"))
    assert again.status_code == 409
    names = [t["name"] for t in (await api.get("/themes", headers=api.as_("dinsos"))).json()]
    assert names == ["kependudukan", "kesehatan"]


async def test_parties_and_whoami(api: Api, penduduk: dict[str, Any]) -> None:
    created = await api.post(
        "/parties",
        json={"name": "rsud", "title": "Hospital", "roles": ["requester", "publisher"]},
        headers=api.as_("admin"),
    )
    assert created.status_code == 201
    token = created.json()["token"]
    me = await api.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["name"] == "rsud" and me.json()["roles"] == ["publisher", "requester"]
    assert (
        await api.post(
            "/parties", json={"name": "rsud", "roles": ["monitor"]}, headers=api.as_("admin")
        )
    ).status_code == 409
    listed = await api.get("/parties", headers=api.as_("inspektorat"))
    assert "rsud" in [p["name"] for p in listed.json()]
    assert "token" not in str(listed.json())
    rotated = await api.post("/parties/rsud/token", headers=api.as_("admin"))
    assert rotated.status_code == 200
    new_token = rotated.json()["token"]
    assert new_token != token
    assert (await api.get("/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401
    me = await api.get("/me", headers={"Authorization": f"Bearer {new_token}"})
    assert me.json()["name"] == "rsud"
    assert (await api.post("/parties/nobody/token", headers=api.as_("admin"))).status_code == 404
