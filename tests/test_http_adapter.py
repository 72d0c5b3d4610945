"""The config-driven HTTP adapter against a real agency HTTP server that records what it got."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from splp.adapters import http_adapter, load_http_config
from splp.bus import Client
from splp.errors import (
    BadRequest,
    ConfigurationError,
    NotFound,
    TooManyRequests,
    UpstreamError,
    UpstreamTimeout,
)
from splp.http_server import serve_app
from splp.settings import Settings

OBJECT = {"type": "object"}

DESCRIPTOR = """
publisher: uji
service: http
version: 1.2.0
theme: uji
title: HTTP adapter test service
operations:
  lookup: {request: {type: object}, response: {type: object}}
  create: {request: {type: object}, response: {type: object}}
  status: {request: {type: object, required: [code]}, response: {type: object}}
  slow: {request: {type: object}, response: {type: object}}
  answer: {request: {type: object}, response: {type: object}}
  named: {request: {type: object}, response: {type: object}}
"""

CONFIG = """
descriptor: uji-http.yaml
base_url: {base_url}
timeout: 5
headers:
  Authorization: Bearer ${{SPLP_TEST_AGENCY_TOKEN}}
operations:
  lookup: {{method: get, path: "/things/{{kind}}/{{id}}", query: [fields]}}
  create: {{method: POST, path: /things, headers: {{X-Extra: "yes"}}}}
  status: {{method: GET, path: "/status/{{code}}", status: {{409: 404}}}}
  slow: {{method: GET, path: /slow, timeout: 0.3}}
  answer: {{method: GET, path: "/answer/{{kind}}"}}
  named: {{method: GET, path: "/things/{{name}}.{{ext}}/{{a}}{{b}}/documents"}}
max_response_bytes: 1000
"""


def agency() -> tuple[FastAPI, list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    app = FastAPI()

    async def record(request: Request) -> dict[str, Any]:
        body = await request.body()
        entry = {
            "method": request.method,
            "path": request.url.path,
            "raw_path": request.scope["raw_path"].decode(),
            "query": dict(request.query_params),
            "headers": dict(request.headers),
            "body": body.decode(),
            "client_port": request.client.port if request.client else None,
        }
        seen.append(entry)
        return entry

    @app.get("/things/{rest:path}")
    async def lookup(request: Request, rest: str) -> Any:
        entry = await record(request)
        return {"raw_path": entry["raw_path"], "query": entry["query"]}

    @app.post("/things")
    async def create(request: Request) -> Any:
        entry = await record(request)
        return JSONResponse({"created": True, "body": entry["body"]}, status_code=201)

    @app.get("/status/{code}")
    async def status(request: Request, code: int) -> Any:
        await record(request)
        headers = {"Retry-After": "7"} if code == 429 else {}
        if code == 299:
            return Response(b"not json", status_code=200, media_type="text/plain")
        return JSONResponse({"detail": "internal stack trace"}, status_code=code, headers=headers)

    @app.get("/slow")
    async def slow(request: Request) -> Any:
        await asyncio.sleep(2)
        return {}

    @app.get("/answer/{kind}")
    async def answer(request: Request, kind: str) -> Any:
        await record(request)
        if kind == "redirect":
            return RedirectResponse("/things/elsewhere/1", status_code=302)
        if kind == "large":  # announced by its Content-Length
            return JSONResponse({"text": "x" * 1000})
        if kind == "large-chunked":  # no Content-Length: only reading tells

            async def chunks() -> AsyncIterator[bytes]:
                yield b'{"text": "'
                for _ in range(10):
                    yield b"x" * 100
                yield b'"}'

            return StreamingResponse(chunks(), media_type="application/json")
        return {"text": "x" * 900}

    return app, seen


@pytest.fixture
async def setup(
    broker: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Client, list[dict[str, Any]]]]:
    monkeypatch.setenv("SPLP_TEST_AGENCY_TOKEN", "agency-secret")
    app, seen = agency()
    async with serve_app(app) as url:
        (tmp_path / "uji-http.yaml").write_text(DESCRIPTOR)
        (tmp_path / "adapter.yaml").write_text(CONFIG.format(base_url=url))
        config, descriptor = load_http_config(tmp_path / "adapter.yaml")
        adapter = http_adapter(config, descriptor, broker, declare_topology=True)
        await adapter.start()
        try:
            async with Client(broker) as client:
                yield client, seen
        finally:
            await adapter.stop(grace=5)


async def test_path_query_and_headers_are_mapped(setup) -> None:
    client, seen = setup
    reply = await client.call(
        "uji", "uji.http.v1", "lookup", {"kind": "a/b", "id": 7, "fields": "name", "x": 1}
    )
    # a field value cannot add path segments: its slash is percent-encoded
    assert reply == {"raw_path": "/things/a%2Fb/7", "query": {"fields": "name"}}
    request = seen[-1]
    assert request["headers"]["authorization"] == "Bearer agency-secret"
    assert len(request["headers"]["idempotency-key"]) == 32
    assert request["headers"]["splp-requester"] == "guest"
    assert request["body"] == ""


async def test_post_sends_the_remaining_fields_as_json(setup) -> None:
    client, seen = setup
    reply = await client.call("uji", "uji.http.v1", "create", {"name": "x", "n": 2})
    assert reply["created"] is True
    assert seen[-1]["body"] == '{"name":"x","n":2}'
    assert seen[-1]["headers"]["x-extra"] == "yes"


@pytest.mark.parametrize(
    ("code", "error", "status"),
    [
        (400, BadRequest, 400),
        (422, BadRequest, 400),
        (404, NotFound, 404),
        (409, NotFound, 404),  # the operation's own status map
        (429, TooManyRequests, 429),
        (500, UpstreamError, 502),
        (503, UpstreamError, 502),
        (401, UpstreamError, 502),
        (504, UpstreamTimeout, 504),
        (299, UpstreamError, 502),  # 2xx with a body that is not JSON
    ],
)
async def test_agency_statuses_map_to_splp_status(
    setup, code: int, error: type, status: int
) -> None:
    client, _ = setup
    with pytest.raises(error) as info:
        await client.call("uji", "uji.http.v1", "status", {"code": code})
    assert info.value.status == status
    assert "stack trace" not in str(info.value.problem)  # agency internals do not leak
    if code == 429:
        assert info.value.retry_after == 7


async def test_agency_timeout_is_504(setup) -> None:
    client, _ = setup
    with pytest.raises(UpstreamTimeout, match=r"within 0\.3 s"):
        await client.call("uji", "uji.http.v1", "slow", {})


async def test_missing_path_field_is_400(setup) -> None:
    client, _ = setup
    with pytest.raises(BadRequest, match="kind"):
        await client.call("uji", "uji.http.v1", "lookup", {"id": 1})
    with pytest.raises(BadRequest, match="string or a number"):
        await client.call("uji", "uji.http.v1", "lookup", {"kind": {"x": 1}, "id": 1})


async def test_agency_down_is_502(broker: Settings, tmp_path: Path) -> None:
    (tmp_path / "uji-http.yaml").write_text(DESCRIPTOR.replace("service: http", "service: down"))
    config_text = CONFIG.format(base_url="http://127.0.0.1:9").replace(
        "Authorization: Bearer ${SPLP_TEST_AGENCY_TOKEN}", "{}"
    )
    (tmp_path / "adapter.yaml").write_text(config_text.replace("headers:\n  {}", "headers: {}"))
    config, descriptor = load_http_config(tmp_path / "adapter.yaml")
    adapter = http_adapter(config, descriptor, broker, declare_topology=True)
    await adapter.start()
    try:
        async with Client(broker) as client:
            with pytest.raises(UpstreamError, match="unreachable"):
                await client.call("uji", "uji.down.v1", "create", {})
    finally:
        await adapter.stop(grace=5)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("lookup: {method: get", "lookup: {method: FETCH"), "method"),
        (("path: /things,", "path: things,"), "path"),
        (("status: {409: 404}", "status: {409: 418}"), "not a splp-status"),
        (("  slow: {method: GET, path: /slow, timeout: 0.3}\n", ""), "missing ['slow']"),
        (("base_url: ", "base_url: ftp://"), "base_url"),
        (("descriptor: uji-http.yaml", "descriptor: nowhere.yaml"), "cannot read"),
        (
            ("descriptor: uji-http.yaml", "descriptor: uji-http.yaml\nservice: uji.http.v1"),
            "exactly one",
        ),
        (("descriptor: uji-http.yaml", "service: uji.http"), "PUBLISHER.SERVICE.vMAJOR"),
    ],
)
def test_bad_configs_are_refused_with_one_clear_line(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    (tmp_path / "uji-http.yaml").write_text(DESCRIPTOR)
    text = CONFIG.format(base_url="http://127.0.0.1:1")
    assert change[0] in text
    (tmp_path / "adapter.yaml").write_text(text.replace(*change))
    with pytest.raises(ConfigurationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_http_config(tmp_path / "adapter.yaml")


@pytest.mark.parametrize("value", [".", ".."])
async def test_a_dot_segment_cannot_reach_another_path(setup, value: str) -> None:
    client, seen = setup
    before = len(seen)
    with pytest.raises(BadRequest, match="cannot be"):
        await client.call("uji", "uji.http.v1", "lookup", {"kind": value, "id": 7})
    assert len(seen) == before  # nothing reached the agency
    # dots inside a value are data, sent as written, not resolved
    reply = await client.call("uji", "uji.http.v1", "lookup", {"kind": "..a", "id": "..."})
    assert reply["raw_path"] == "/things/..a/..."
    reply = await client.call("uji", "uji.http.v1", "lookup", {"kind": "a", "id": "../x"})
    assert reply["raw_path"] == "/things/a/..%2Fx"


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "", "ext": "", "a": "x", "b": "y"},  # "{name}.{ext}" makes "."
        {"name": "", "ext": ".", "a": "x", "b": "y"},  # "{name}.{ext}" makes ".."
        {"name": "n", "ext": "e", "a": "", "b": ""},  # "//": merged away by many servers
        {"name": "n", "ext": "e", "a": "", "b": ".."},
    ],
)
async def test_fields_that_together_make_a_dot_or_empty_segment_are_400(
    setup, fields: dict[str, str]
) -> None:
    client, seen = setup
    before = len(seen)
    with pytest.raises(BadRequest, match=r"in the URL|path segment"):
        await client.call("uji", "uji.http.v1", "named", fields)
    assert len(seen) == before  # nothing reached the agency
    reply = await client.call(
        "uji", "uji.http.v1", "named", {"name": "n", "ext": "", "a": "", "b": "b"}
    )
    assert reply["raw_path"] == "/things/n./b/documents"


async def test_a_redirect_is_not_followed(setup) -> None:
    client, seen = setup
    with pytest.raises(UpstreamError, match="answered 302"):
        await client.call("uji", "uji.http.v1", "answer", {"kind": "redirect"})
    assert not any(entry["path"] == "/things/elsewhere/1" for entry in seen)


@pytest.mark.parametrize("kind", ["large", "large-chunked"])
async def test_an_answer_over_the_size_limit_is_502(setup, kind: str) -> None:
    client, _ = setup
    assert (await client.call("uji", "uji.http.v1", "answer", {"kind": "small"}))["text"]
    with pytest.raises(UpstreamError, match="more than 1000 bytes"):
        await client.call("uji", "uji.http.v1", "answer", {"kind": kind})
    # the adapter goes on serving
    assert (await client.call("uji", "uji.http.v1", "answer", {"kind": "small"}))["text"]


def _connections_to(port: int) -> Iterator[Any]:
    """This process's open client connections to ``port``."""
    for connection in psutil.Process().net_connections(kind="tcp"):
        if connection.raddr and connection.raddr.port == port:
            yield from [connection] if connection.status == psutil.CONN_ESTABLISHED else []


async def test_connections_are_kept_alive_bounded_by_prefetch_and_closed_on_stop(
    broker: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPLP_TEST_AGENCY_TOKEN", "agency-secret")
    app, seen = agency()
    async with serve_app(app) as url:
        port = int(url.rsplit(":", 1)[1])
        (tmp_path / "uji-http.yaml").write_text(DESCRIPTOR)
        (tmp_path / "adapter.yaml").write_text(CONFIG.format(base_url=url) + "prefetch: 3\n")
        config, descriptor = load_http_config(tmp_path / "adapter.yaml")
        adapter = http_adapter(config, descriptor, broker, declare_topology=True)
        async with adapter, Client(broker) as client:
            calls = [
                client.call("uji", "uji.http.v1", "lookup", {"kind": "k", "id": n})
                for n in range(30)
            ]
            await asyncio.gather(*calls)
            ports = {entry["client_port"] for entry in seen}
            assert 1 <= len(ports) <= 3  # 30 calls over at most prefetch connections
            assert 1 <= len(list(_connections_to(port))) <= 3  # still open between calls
        assert list(_connections_to(port)) == []  # closed when the adapter stopped


def test_unset_environment_variable_is_refused(
    broker: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SPLP_TEST_AGENCY_TOKEN", raising=False)
    (tmp_path / "uji-http.yaml").write_text(DESCRIPTOR)
    (tmp_path / "adapter.yaml").write_text(CONFIG.format(base_url="http://127.0.0.1:1"))
    config, descriptor = load_http_config(tmp_path / "adapter.yaml")
    with pytest.raises(ConfigurationError, match="SPLP_TEST_AGENCY_TOKEN is not set"):
        http_adapter(config, descriptor, broker)
