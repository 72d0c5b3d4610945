"""The one directory client reads every answer the same way, blocking or on asyncio.

The "directory" here is a small real HTTP server that answers what a directory (or a
wrong URL) can answer; the real directory is exercised by the CLI and SDK tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from splp.bus.directory_cache import DirectoryCache
from splp.bus.directory_client import AsyncDirectoryClient, DirectoryClient
from splp.errors import (
    AccessDenied,
    ContractError,
    Forbidden,
    InternalError,
    NotFound,
    RemoteError,
    ServiceUnavailable,
)
from splp.http_server import serve_app
from splp.settings import Settings

PROBLEM = "application/problem+json"
state: dict[str, Any] = {"grants": "json"}


async def echo(request: Request) -> Response:
    return JSONResponse(
        {
            "query": dict(request.query_params),
            "authorization": request.headers.get("authorization"),
            "body": (await request.json()) if await request.body() else None,
        }
    )


async def problem(request: Request) -> Response:
    status = int(request.path_params["status"])
    body = {"type": "urn:splp:problem:not-found", "title": "Not found", "status": 404}
    if status != 404:
        body = {"type": "about:blank", "title": "Whatever", "status": status}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


async def html(_request: Request) -> Response:
    return PlainTextResponse("<html>a web server, not a directory</html>")


async def grants(request: Request) -> Response:
    """Grants with an ETag while ``state`` says so; else HTML, or a 503."""
    if state["grants"] == "html":
        return PlainTextResponse("<html>maintenance</html>")
    if state["grants"] == "down":
        return JSONResponse({"title": "down"}, status_code=503, media_type=PROBLEM)
    if request.headers.get("if-none-match") == '"v1"':
        return Response(status_code=304)
    return JSONResponse([{"requester": "dinsos"}], headers={"ETag": '"v1"'})


APP = Starlette(
    routes=[
        Route("/echo", echo, methods=["GET", "POST", "PUT"]),
        Route("/problem/{status:int}", problem),
        Route("/html", html),
        Route("/grants", grants),
    ]
)


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with serve_app(APP) as url:
        yield url


async def test_answers_and_problems_read_alike_blocking_and_async(url: str) -> None:
    async with AsyncDirectoryClient(url + "/", "splp_a") as directory:
        answer = await directory.request("POST", "/echo", {"x": 1})
        assert answer == {"query": {}, "authorization": "Bearer splp_a", "body": {"x": 1}}
        # left-out parameters are dropped; a query string written in the path is kept
        assert (await directory.get("/echo", {"a": "1", "b": None}))["query"] == {"a": "1"}
        assert (await directory.get("/echo?latest=true"))["query"] == {"latest": "true"}
        with pytest.raises(NotFound, match="404 Not found"):
            await directory.get("/problem/404")
        with pytest.raises(InternalError):
            await directory.get("/problem/500")

    def blocking() -> None:
        with DirectoryClient(url, "splp_b") as directory:
            assert directory.put("/echo", [1])["body"] == [1]
            assert directory.get("/echo")["authorization"] == "Bearer splp_b"
            assert directory.get_text("/html").startswith("<html>")
            for status in (401, 403):
                with pytest.raises(Forbidden) as refused:
                    directory.get(f"/problem/{status}")
                assert isinstance(refused.value, AccessDenied) and refused.value.status == status
            with pytest.raises(ContractError, match=r"answered GET /html with a body that is not"):
                directory.get("/html")
            with pytest.raises(RemoteError) as teapot:
                directory.get("/problem/418")
            assert type(teapot.value) is RemoteError and teapot.value.status == 418

    await asyncio.to_thread(blocking)


async def test_an_unreachable_directory_is_unavailable() -> None:
    async with AsyncDirectoryClient("http://127.0.0.1:1", None) as directory:
        with pytest.raises(ServiceUnavailable, match="is unreachable: ConnectError"):
            await directory.get("/parties")

    def blocking() -> None:
        with DirectoryClient("http://127.0.0.1:1/", "splp_x") as directory:
            unreachable = r"^directory http://127.0.0.1:1 is unreachable: "
            with pytest.raises(ServiceUnavailable, match=unreachable):
                directory.get("/parties")

    await asyncio.to_thread(blocking)


async def test_the_cache_keeps_its_copy_through_5xx_and_bodies_that_are_not_json(
    url: str, tmp_path: Path
) -> None:
    settings = Settings(directory_url=url, token=SecretStr("splp_c"), cache_dir=tmp_path)
    state["grants"] = "html"
    cache = DirectoryCache(settings)
    try:
        with pytest.raises(ServiceUnavailable, match="not JSON, and no copy of /grants is kept"):
            await cache.get("/grants")
        state["grants"] = "json"
        assert await cache.get("/grants") == [{"requester": "dinsos"}]
        assert await cache.get("/grants") == [{"requester": "dinsos"}]  # 304: the copy
        for trouble in ("html", "down"):
            state["grants"] = trouble
            assert await cache.get("/grants") == [{"requester": "dinsos"}]
        with pytest.raises(NotFound):  # a 4xx is an answer, not an outage
            await cache.get("/problem/404")
    finally:
        state["grants"] = "json"
        await cache.aclose()
    # a new cache (a restarted adapter) finds the copy on disk while the directory is down
    state["grants"] = "down"
    restarted = DirectoryCache(settings)
    try:
        assert await restarted.get("/grants") == [{"requester": "dinsos"}]
    finally:
        state["grants"] = "json"
        await restarted.aclose()
