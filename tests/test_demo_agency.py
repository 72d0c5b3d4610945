"""The demo agency API takes the NIK in the body or in the ``X-NIK`` header, never in a URL.

It runs on a real server; a recorder in front of it keeps each request's path and query
string, which is what a web server, proxy or API manager writes into its access log.
"""

from __future__ import annotations

from typing import Any

import httpx

from splp.demo.agency import RESIDENTS
from splp.demo.agency import create_app as create_agency
from splp.http_server import serve_app

SIAK_A, SIAK_B = list(RESIDENTS)
UNKNOWN = "1508019999999999"


class AccessLog:
    """An ASGI wrapper that records each request's URL (path and query), as logged."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.urls: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.urls.append(f"{scope['path']}?{scope['query_string'].decode()}")
        await self.app(scope, receive, send)


async def test_the_nik_header_route_answers_and_no_nik_reaches_a_url() -> None:
    logged = AccessLog(create_agency())
    async with serve_app(logged) as url, httpx.AsyncClient(base_url=url) as http:
        by_header = await http.get("/resident", headers={"X-NIK": SIAK_A})
        assert by_header.status_code == 200 and by_header.json() == RESIDENTS[SIAK_A]
        by_body = await http.post("/residents/search", json={"nik": SIAK_B})
        assert by_body.status_code == 200 and by_body.json() == RESIDENTS[SIAK_B]
        unknown = await http.get("/resident", headers={"X-NIK": UNKNOWN})
        assert unknown.status_code == 404
        assert unknown.headers["content-type"] == "application/problem+json"
        assert UNKNOWN not in unknown.text
        without = await http.get("/resident")
        assert without.status_code == 422
    assert logged.urls == ["/resident?", "/residents/search?", "/resident?", "/resident?"]
    for nik in (SIAK_A, SIAK_B, UNKNOWN):
        assert not any(nik in line for line in logged.urls)


def test_no_route_of_the_demo_agency_takes_a_nik_in_its_path_or_query() -> None:
    document = create_agency().openapi()
    places = {
        (path, parameter["name"].lower(), parameter["in"])
        for path, operations in document["paths"].items()
        for operation in operations.values()
        for parameter in operation.get("parameters", [])
    }
    assert places == {("/resident", "x-nik", "header")}
    assert all("{" not in path for path in document["paths"])
