"""Bad input gets a 4xx problem and changes nothing in the store (issue 3, item 8)."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from splp.directory_service import dump
from tests.directory.conftest import Api, publish, walk

PROBLEM_JSON = "application/problem+json"


async def snapshot(api: Api) -> dict[str, Any]:
    return (await dump(api.app.state.store))["tables"]  # type: ignore[attr-defined]


def broken(document: dict[str, Any], change: str) -> dict[str, Any]:
    doc = copy.deepcopy(document)
    op = doc["operations"]["get-by-nik"]
    if change == "invalid-schema":
        op["request"]["properties"]["nik"]["type"] = "strnig"
    elif change == "invalid-schema-minimum":
        op["response"]["properties"]["name"] = {"type": "string", "minLength": -1}
    elif change == "dot-in-service":
        doc["service"] = "pen.duduk"
    elif change == "upper-case-service":
        doc["service"] = "Penduduk"
    elif change == "upper-case-operation":
        doc["operations"]["GetByNik"] = doc["operations"].pop("get-by-nik")
    elif change == "dot-in-theme":
        doc["theme"] = "kependudukan.x"
    elif change == "bad-version":
        doc["version"] = "1.0"
    elif change == "unknown-theme":
        doc["theme"] = "kesehatan"
    elif change == "unknown-member":
        doc["owner"] = "someone"
    elif change == "nul-in-title":
        doc["title"] = "Population\x00register"
    return doc


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ("invalid-schema", 422),
        ("invalid-schema-minimum", 422),
        ("dot-in-service", 422),
        ("upper-case-service", 422),
        ("upper-case-operation", 422),
        ("dot-in-theme", 422),
        ("bad-version", 422),
        ("unknown-theme", 422),
        ("unknown-member", 422),
        ("nul-in-title", 422),
    ],
)
async def test_bad_descriptor_is_refused_and_changes_nothing(
    api: Api, penduduk: dict[str, Any], change: str, status: int
) -> None:
    before = await snapshot(api)
    response = await publish(api, broken(penduduk, change))
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert problem["status"] == status and problem["type"].startswith("urn:splp:problem:")
    assert problem["detail"]
    assert await snapshot(api) == before


async def test_duplicate_version_is_a_conflict(api: Api, penduduk: dict[str, Any]) -> None:
    assert (await publish(api, penduduk)).status_code == 201
    before = await snapshot(api)
    response = await publish(api, penduduk)
    assert response.status_code == 409
    assert "published already" in response.json()["detail"]
    assert await snapshot(api) == before


async def test_older_version_after_newer_is_a_conflict(api: Api, penduduk: dict[str, Any]) -> None:
    newer = {**penduduk, "version": "1.1.0"}
    assert (await publish(api, newer)).status_code == 201
    before = await snapshot(api)
    response = await publish(api, penduduk)
    assert response.status_code == 409
    assert "must be greater" in response.json()["detail"]
    assert await snapshot(api) == before


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"service": "dukcapil.kk.v1", "reason": "x"}, 422, "unknown service"),
        ({"service": "dukcapil.penduduk.v7", "reason": "x"}, 422, "unknown service"),
        ({"service": "Dukcapil.penduduk.v1", "reason": "x"}, 422, "service"),
        ({"service": "dukcapil.penduduk.v1", "reason": "x", "operations": ["nope"]}, 422, "nope"),
        ({"service": "dukcapil.penduduk.v1", "reason": ""}, 422, "reason"),
        ({"service": "dukcapil.penduduk.v1"}, 422, "reason"),
    ],
)
async def test_bad_access_request_changes_nothing(
    api: Api, penduduk: dict[str, Any], body: dict[str, Any], status: int, words: str
) -> None:
    assert (await publish(api, penduduk)).status_code == 201
    before = await snapshot(api)
    response = await api.post("/access-requests", json=body, headers=api.as_("dinsos"))
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert words in response.json()["detail"]
    assert await snapshot(api) == before


@pytest.mark.parametrize(
    "expires_at", ["2030-13-01", "31/12/2030", "tomorrow", "2001-01-01", "2030-02-30T00:00:00Z"]
)
async def test_bad_date_in_grant_changes_nothing(
    api: Api, penduduk: dict[str, Any], expires_at: str
) -> None:
    request_id = await walk(api, penduduk, "approved")
    before = await snapshot(api)
    response = await api.post(
        f"/access-requests/{request_id}/grant",
        json={"expires_at": expires_at},
        headers=api.as_("dukcapil"),
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert await snapshot(api) == before


async def test_oversized_body_is_413(api: Api, penduduk: dict[str, Any]) -> None:
    before = await snapshot(api)
    doc = copy.deepcopy(penduduk)
    doc["description"] = "x" * (2 * 1024 * 1024)
    response = await publish(api, doc)
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["status"] == 413

    async def chunks() -> Any:  # no Content-Length: the limit holds for a streamed body too
        for _ in range(3):
            yield b" " * (600 * 1024)

    streamed = await api.post(
        "/themes",
        content=chunks(),
        headers={**api.as_("admin"), "content-type": "application/json"},
    )
    assert streamed.status_code == 413
    assert await snapshot(api) == before


@pytest.mark.parametrize(
    ("content", "status"),
    [(b"{not json", 400), (b"[]", 422), (b'{"name": "kesehatan", "extra": 1}', 422), (b"", 422)],
)
async def test_malformed_bodies(api: Api, content: bytes, status: int) -> None:
    before = await snapshot(api)
    response = await api.post(
        "/themes", content=content, headers={**api.as_("admin"), "content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert await snapshot(api) == before


@pytest.mark.parametrize(
    "path",
    [
        "/services/dukcapil.penduduk",
        "/services/dukcapil.penduduk.v99999999",
        "/services/a.b.v1/openapi",
        "/access-requests/99999",
        "/access-requests/0",
        "/access-requests/99999999999999999999",
        "/parties/nobody",
        "/themes/nothing/asyncapi",
        "/no/such/route",
    ],
)
async def test_unknown_references_are_4xx_problems(api: Api, path: str) -> None:
    response = await api.get(path, headers=api.as_("admin"))
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == PROBLEM_JSON


async def test_bad_names_for_parties_and_themes(api: Api) -> None:
    before = await snapshot(api)
    for body in (
        {"name": "dinas.sosial", "roles": ["requester"]},
        {"name": "DinSos", "roles": ["requester"]},
        {"name": "dinsos2", "roles": ["king"]},
        {"name": "dinsos2", "roles": []},
    ):
        response = await api.post("/parties", json=body, headers=api.as_("admin"))
        assert response.status_code == 422, (body, response.text)
    response = await api.post("/themes", json={"name": "Kesehatan"}, headers=api.as_("admin"))
    assert response.status_code == 422
    assert await snapshot(api) == before


async def test_racing_creations_of_one_name_give_one_201_and_409s(api: Api) -> None:
    responses = await asyncio.gather(
        *(
            api.post("/themes", json={"name": "kesehatan"}, headers=api.as_("admin"))
            for _ in range(4)
        )
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
    assert all(r.headers["content-type"].startswith("application/") for r in responses)


async def test_an_unreachable_store_is_a_503_problem() -> None:
    import httpx

    from splp.control_plane import close_app, create_app
    from splp.directory_service import Store
    from tests.directory.conftest import directory_settings

    url = "postgresql+asyncpg://postgres@127.0.0.1:1/nothing"
    app = create_app(directory_settings(url), store=Store(url))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://directory"
        ) as client:
            response = await client.get("/me", headers={"Authorization": "Bearer splp_x"})
    finally:
        await close_app(app)
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["retry-after"] == "5"


def nested_properties(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        (nested_properties(40), "deeper than 64"),  # 81 levels of JSON
        (  # about 400 KiB of schema, under the 1 MiB body limit
            {
                "type": "object",
                "properties": {
                    f"f{i:05d}": {"type": "string", "maxLength": i} for i in range(12000)
                },
            },
            "larger than 262144 bytes",
        ),
    ],
    ids=["deep", "large"],
)
async def test_a_schema_too_deep_or_too_large_is_refused(
    api: Api, penduduk: dict[str, Any], schema: dict[str, Any], words: str
) -> None:
    before = await snapshot(api)
    doc = copy.deepcopy(penduduk)
    doc["operations"]["get-by-nik"]["response"] = schema
    response = await publish(api, doc)
    assert response.status_code == 422, response.text[:300]
    assert response.headers["content-type"] == PROBLEM_JSON
    assert words in response.json()["detail"]
    assert "operation get-by-nik response" in response.json()["detail"]
    assert await snapshot(api) == before
    # within the bounds, the same kind of schema is published
    doc["operations"]["get-by-nik"]["response"] = nested_properties(20)
    assert (await publish(api, doc)).status_code == 201
