"""The HTTP gateway end to end: a real directory (reconciler on), real broker users, a
real adapter, the gateway on a real port, and HTTP clients as applications."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from yarl import URL

from splp.bus.gateway_identity import gateway_user
from splp.errors import PROBLEM_BASE
from splp.gateway.party_clients import PartyClients
from tests.gateway.conftest import (
    QUOTA,
    RESIDENT,
    SECRET,
    SERVICE,
    GatewayWorld,
    gateway_world,
    grant,
)

NIK = {"nik": RESIDENT["nik"]}
DEAD = "127.0.0.1:1"  # nothing listens there: a broker node that is down


async def test_a_token_then_a_granted_call(gw: GatewayWorld, http: httpx.AsyncClient) -> None:
    token = await gw.token(http)
    response = await http.post(gw.api(), json=NIK, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == RESIDENT
    requester = gw.world.user("dinsos")
    assert gw.seen[-1] == (requester, "gateway")


async def test_the_token_endpoint_takes_the_secret_in_the_form_too(
    gw: GatewayWorld, http: httpx.AsyncClient
) -> None:
    response = await http.post(
        gw.url + "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": gw.client_id,
            "client_secret": gw.client_secret,
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("auth", "data", "status", "code"),
    [
        (("wrong", "secret"), {"grant_type": "client_credentials"}, 401, "900901"),
        (None, {"grant_type": "client_credentials", "client_id": "x"}, 401, "900902"),
        (None, {"grant_type": "client_credentials"}, 401, "900902"),
    ],
)
async def test_bad_client_credentials_are_answered_like_the_national_platform(
    gw: GatewayWorld,
    http: httpx.AsyncClient,
    auth: tuple[str, str] | None,
    data: dict[str, str],
    status: int,
    code: str,
) -> None:
    response = await http.post(gw.url + "/oauth2/token", data=data, auth=auth)
    assert response.status_code == status
    body = response.json()
    assert body["code"] == code and body["error"] == "invalid_client"
    assert body["status"] == status and body["type"].startswith(PROBLEM_BASE)
    assert "WWW-Authenticate" in response.headers


async def test_a_wrong_secret_of_a_real_client_is_refused(
    gw: GatewayWorld, http: httpx.AsyncClient
) -> None:
    response = await http.post(
        gw.url + "/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(gw.client_id, gw.client_secret[:-1] + "x"),
    )
    assert (response.status_code, response.json()["code"]) == (401, "900901")


async def test_token_requests_that_are_not_client_credentials(
    gw: GatewayWorld, http: httpx.AsyncClient
) -> None:
    response = await http.post(gw.url + "/oauth2/token", data={"grant_type": "password"})
    assert (response.status_code, response.json()["error"]) == (400, "unsupported_grant_type")
    response = await http.post(gw.url + "/oauth2/token", json={"grant_type": "x"})
    assert response.status_code == 415
    response = await http.post(
        gw.url + "/oauth2/token",
        content=b"grant_type=" + b"a" * 5000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "900902"),
        ({"Authorization": "Basic abc"}, "900902"),
        ({"Authorization": "Bearer not-a-token"}, "900901"),
        ({"apikey": "not-a-key"}, "900901"),
    ],
)
async def test_calls_without_valid_credentials(
    gw: GatewayWorld, http: httpx.AsyncClient, headers: dict[str, str], code: str
) -> None:
    response = await http.post(gw.api(), json=NIK, headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


async def test_a_legacy_application_calls_with_its_api_key(
    gw: GatewayWorld, http: httpx.AsyncClient
) -> None:
    response = await http.post(gw.api(), json=NIK, headers={"apikey": gw.api_key})
    assert response.status_code == 200, response.text
    assert response.json()["name"] == RESIDENT["name"]


async def test_the_adapters_problems_come_back_as_http(
    gw: GatewayWorld, http: httpx.AsyncClient
) -> None:
    headers = {"Authorization": f"Bearer {await gw.token(http)}"}
    response = await http.post(gw.api(), json={"nik": "1508019999999999"}, headers=headers)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "no resident with that NIK"
    response = await http.post(gw.api(), json={"nik": 7}, headers=headers)
    assert response.status_code == 400
    assert response.json()["errors"][0]["pointer"] == "/nik"


async def test_bad_requests_get_clear_problems(gw: GatewayWorld, http: httpx.AsyncClient) -> None:
    headers = {"Authorization": f"Bearer {await gw.token(http)}"}
    limit = gw.settings.max_body_bytes
    cases = [
        (gw.api(), b"x" * (limit + 1), "application/json", 413),
        (gw.api(), b'{"nik": "1"}', "text/plain", 415),
        (gw.api(), b'{"nik": "1"}', "application/json; charset=latin-1", 415),
        (gw.api(), b'{"nik": ', "application/json", 400),
        (gw.api(), b"\xff\xfe", "application/json", 400),
        (gw.api("/api/dukcapil/nothing/v1/get"), b"{}", "application/json", 404),
        (gw.api("/api/dukcapil/penduduk/v1/Get-By-NIK"), b"{}", "application/json", 404),
        (gw.api("/api/dukcapil/penduduk/x1/get-by-nik"), b"{}", "application/json", 404),
    ]
    for url, body, content_type, status in cases:
        response = await http.post(
            url, content=body, headers={**headers, "content-type": content_type}
        )
        assert response.status_code == status, (url, content_type, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == status
    response = await http.get(gw.api(), headers=headers)
    assert response.status_code == 405


async def test_a_slow_body_is_cut_with_408(gw: GatewayWorld, http: httpx.AsyncClient) -> None:
    token = await gw.token(http)
    host, port = gw.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    path = "/api/dukcapil/penduduk/v1/get-by-nik"
    writer.write(
        (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            'Content-Type: application/json\r\nContent-Length: 40\r\n\r\n{"nik":'
        ).encode()
    )
    await writer.drain()
    started = time.monotonic()
    status_line = await asyncio.wait_for(reader.readline(), timeout=10)
    elapsed = time.monotonic() - started
    writer.close()
    assert b" 408 " in status_line
    assert gw.settings.gateway_body_timeout <= elapsed + 0.2 < 5


async def test_an_operation_not_granted_is_refused_by_the_gateway(
    gw: GatewayWorld, http: httpx.AsyncClient
) -> None:
    headers = {"Authorization": f"Bearer {await gw.token(http)}"}
    response = await http.post(
        gw.api(f"/api/{SERVICE.replace('.', '/')}/search"), json={}, headers=headers
    )
    assert response.status_code == 403
    assert "holds no grant" in response.json()["detail"]


async def test_the_quota_of_the_grant_holds_through_the_gateway(
    gw: GatewayWorld, http: httpx.AsyncClient
) -> None:
    headers = {"Authorization": f"Bearer {await gw.token(http)}"}
    statuses = []
    for _ in range(QUOTA + 5):
        response = await http.post(gw.api(), json=NIK, headers=headers)
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    assert statuses[-1] == 429, statuses
    assert int(response.headers["Retry-After"]) >= 1
    body = response.json()
    assert body["code"] == "900804" and body["status"] == 429


async def test_revoking_the_application_stops_its_tokens(
    management: httpx.AsyncClient, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("gw-revoke")
    async with gateway_world(management, folder) as world, httpx.AsyncClient(timeout=15) as http:
        token = await world.token(http)
        headers = {"Authorization": f"Bearer {token}"}
        assert (await http.post(world.api(), json=NIK, headers=headers)).status_code == 200
        api = world.world.api
        response = await api.delete(
            f"/parties/dinsos/clients/{world.client_id}", headers=api.as_("admin")
        )
        assert response.status_code in (200, 204), response.text
        started = time.monotonic()
        while True:
            response = await http.post(world.api(), json=NIK, headers=headers)
            if response.status_code == 401:
                break
            assert time.monotonic() - started < 5, "the revoked token still works after 5 s"
            await asyncio.sleep(0.1)
        assert response.json()["code"] == "900901"
        token_response = await http.post(
            world.url + "/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(world.client_id, world.client_secret),
        )
        assert token_response.status_code == 401


async def test_with_its_own_check_off_the_broker_still_refuses(
    management: httpx.AsyncClient, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The gateway's grant check switched off (a test-only setting): dinkes, granted
    nothing, calls through the gateway and the broker itself refuses the publish, because
    the call travels on dinkes's gateway identity, which holds only dinkes's rights."""
    folder = tmp_path_factory.mktemp("gw-broker")
    async with gateway_world(management, folder, gateway_own_check=False) as world:
        api = world.world.api
        made = await api.post(
            "/parties/dinkes/clients", json={"name": "simpus"}, headers=api.as_("admin")
        )
        assert made.status_code == 201, made.text
        credentials = made.json()
        async with httpx.AsyncClient(timeout=15) as http:
            await asyncio.sleep(world.settings.gateway_refresh * 3)  # the gateway learns it
            response = await http.post(
                world.url + "/oauth2/token",
                data={"grant_type": "client_credentials"},
                auth=(credentials["client_id"], credentials["client_secret"]),
            )
            assert response.status_code == 200, response.text
            headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
            refused = await http.post(world.api(), json=NIK, headers=headers)
            assert refused.status_code == 403, refused.text
            assert "refused the publish" in refused.json()["detail"]
            assert all(requester != world.world.user("dinkes") for requester, _ in world.seen)
            # dinsos, granted, still gets through on its own identity
            headers = {"Authorization": f"Bearer {await world.token(http)}"}
            assert (await http.post(world.api(), json=NIK, headers=headers)).status_code == 200


async def test_a_revoked_grant_stops_gateway_calls_within_5_s(
    management: httpx.AsyncClient, tmp_path_factory: pytest.TempPathFactory
) -> None:
    async with gateway_world(management, tmp_path_factory.mktemp("gw-grant")) as world:
        w = world.world
        second = await grant(w, "dinsos", ["search"], QUOTA)
        async with httpx.AsyncClient(timeout=15) as http:
            headers = {"Authorization": f"Bearer {await world.token(http)}"}
            search = world.api(f"/api/{SERVICE.replace('.', '/')}/get-by-nik")
            assert (await http.post(search, json=NIK, headers=headers)).status_code == 200
            requests = await w.api.get("/access-requests", headers=w.api.as_("admin"))
            first = next(
                r["id"] for r in requests.json() if r["id"] != second and r["state"] == "granted"
            )
            await w.step(first, "revoke", "dukcapil")
            started = time.monotonic()
            while (await http.post(search, json=NIK, headers=headers)).status_code != 403:
                assert time.monotonic() - started < 5, "the revoked grant still works after 5 s"
                await asyncio.sleep(0.1)


async def test_each_party_client_is_given_every_broker_node(
    management: httpx.AsyncClient, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """With a cluster's nodes in ``SPLP_AMQP_URLS``, a party's gateway client is given all
    of them: here the first node (also the host of ``SPLP_AMQP_URL``) is down, a closed
    port, and the calls go through the second, the test broker."""
    folder = tmp_path_factory.mktemp("gw-nodes")
    nodes = {"amqp_url": f"amqp://guest:guest@{DEAD}", "amqp_urls": f"{DEAD},127.0.0.1:5672"}
    async with gateway_world(management, folder, **nodes) as world:
        user = gateway_user("dinsos", world.settings.broker_user_prefix)
        urls = PartyClients(world.settings, SECRET.encode()).urls_for("dinsos")
        assert [(URL(u).user, URL(u).port) for u in urls] == [(user, 1), (user, 5672)]
        async with httpx.AsyncClient(timeout=15) as http:
            headers = {"Authorization": f"Bearer {await world.token(http)}"}
            response = await http.post(world.api(), json=NIK, headers=headers)
            assert response.status_code == 200, response.text
            assert response.json() == RESIDENT
            assert world.seen[-1] == (world.world.user("dinsos"), "gateway")
