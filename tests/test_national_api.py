"""A "pusat" publisher's HTTP adapter fronting a national API, against a stub of the
national platform (tests/national_platform.py) on a real port, on the real broker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from splp.adapters import backend_auth, http_adapter, load_http_config
from splp.bus import Client
from splp.errors import (
    BadRequest,
    ConfigurationError,
    TooManyRequests,
    UpstreamAuth,
    UpstreamError,
)
from splp.http_server import serve_app
from splp.settings import Settings
from tests.logcapture import SECRETS
from tests.national_platform import (
    API_KEY,
    BACKEND_CREDENTIAL,
    BACKEND_HEADER,
    CLIENT_ID,
    CLIENT_SECRET,
    TENANT_API,
    NationalPlatform,
)

SERVICE = "pusat.dukcapil.v1"
THEME = "kependudukan"
NIK = "3507011234560001"

DESCRIPTOR = """
publisher: pusat
service: dukcapil
version: 1.0.0
theme: kependudukan
title: Dukcapil national API, fronted for the regency
operations:
  get-resident: {request: {type: object}, response: {type: object}}
  update-resident: {request: {type: object}, response: {type: object}}
  register-resident: {request: {type: object}, response: {type: object}}
  search-residents: {request: {type: object}, response: {type: object}}
"""

CONFIG = """
descriptor: dukcapil.yaml
base_url: {url}{tenant_api}
timeout: 5
{auth}operations:
  get-resident: {{method: GET, path: "/residents/{{nik}}"}}
  update-resident: {{method: PUT, path: "/residents/{{nik}}"}}
  register-resident: {{method: POST, path: /residents}}
  search-residents: {{method: POST, path: /residents/search, idempotent: true}}
"""

OAUTH = """auth:
  type: oauth2_client_credentials
  token_url: {url}/oauth2/token
  client_id: {client_id}
  client_secret_file: secrets/national-client-secret
  scope: dukcapil
"""


def write_config(tmp_path: Path, url: str, *changes: tuple[str, str], auth: str = OAUTH) -> Path:
    (tmp_path / "dukcapil.yaml").write_text(DESCRIPTOR)
    (tmp_path / "secrets").mkdir(exist_ok=True)
    (tmp_path / "secrets" / "national-client-secret").write_text(CLIENT_SECRET + "\n")
    auth = auth.format(url=url, client_id=CLIENT_ID)
    text = CONFIG.format(url=url, tenant_api=TENANT_API, auth=auth)
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new)
    (tmp_path / "adapter.yaml").write_text(text)
    return tmp_path / "adapter.yaml"


@contextlib.asynccontextmanager
async def fronted(
    broker: Settings,
    tmp_path: Path,
    platform: NationalPlatform,
    *changes: tuple[str, str],
    auth: str = OAUTH,
) -> AsyncIterator[Client]:
    """The stub served, the adapter configured with ``changes`` running, a client."""
    async with serve_app(platform.app()) as url:
        config, descriptor = load_http_config(write_config(tmp_path, url, *changes, auth=auth))
        assert descriptor is not None
        adapter = http_adapter(config, descriptor, broker, declare_topology=True)
        async with adapter, Client(broker) as client:
            yield client


async def get(client: Client, nik: str = NIK) -> Any:
    return await client.call(THEME, SERVICE, "get-resident", {"nik": nik})


def leaks(error: Exception) -> set[str]:
    return SECRETS.kinds_in(str(error) + str(getattr(error, "problem", "")))


async def test_one_token_serves_many_calls_on_the_tenant_path(
    broker: Settings, tmp_path: Path
) -> None:
    platform = NationalPlatform()
    async with fronted(broker, tmp_path, platform) as client:
        answers = await asyncio.gather(*(get(client, f"35070112345600{n:02}") for n in range(20)))
        answers.append(await get(client))
    assert len(platform.token_requests) == 1  # fetched once, single-flight, then cached
    assert platform.token_requests[0] == {"how": "basic", "scope": "dukcapil"}
    assert platform.answered == ["ok"] * 21
    # the tenant domain's dots and the version go out as written
    assert answers[-1]["raw_path"] == f"/t/bungokab.go.id/dukcapil/1.0/residents/{NIK}"
    assert "authorization" in platform.calls[0]["headers"]


async def test_dot_segments_are_still_refused_under_the_tenant_path(
    broker: Settings, tmp_path: Path
) -> None:
    platform = NationalPlatform()
    async with fronted(broker, tmp_path, platform) as client:
        for value in (".", ".."):
            with pytest.raises(BadRequest, match="cannot be"):
                await get(client, value)
        assert platform.calls == []
        assert (await get(client, "../x"))["raw_path"] == TENANT_API + "/residents/..%2Fx"


async def test_the_token_is_renewed_before_it_expires(broker: Settings, tmp_path: Path) -> None:
    platform = NationalPlatform(expires_in=2)  # renewed after 80 %: 1.6 s
    async with fronted(broker, tmp_path, platform) as client:
        await get(client)
        await asyncio.sleep(1.0)
        await get(client)
        assert len(platform.token_requests) == 1
        await asyncio.sleep(0.8)  # 1.8 s: due for renewal, not expired yet
        await get(client)
        assert len(platform.token_requests) == 2
    assert platform.answered == ["ok"] * 3  # never refused: renewed in time


@pytest.mark.parametrize("operation", ["get-resident", "update-resident", "search-residents"])
async def test_an_idempotent_call_is_retried_once_with_a_renewed_token(
    broker: Settings, tmp_path: Path, operation: str
) -> None:
    # the platform says 300 s but drops tokens after 1.2 s (revoked, or its clock ahead)
    platform = NationalPlatform(valid_for=1.2)
    async with fronted(broker, tmp_path, platform) as client:
        await get(client)
        await asyncio.sleep(1.3)
        answer = await client.call(THEME, SERVICE, operation, {"nik": NIK})
    assert answer["raw_path"].startswith(TENANT_API)
    assert platform.answered == ["ok", "900901", "ok"]
    assert len(platform.token_requests) == 2


async def test_a_non_idempotent_call_is_not_retried(broker: Settings, tmp_path: Path) -> None:
    platform = NationalPlatform(valid_for=1.2)
    async with fronted(broker, tmp_path, platform) as client:
        await get(client)
        await asyncio.sleep(1.3)
        with pytest.raises(UpstreamAuth, match="900901") as info:
            await client.call(THEME, SERVICE, "register-resident", {"name": "Siti"})
        assert info.value.status == 502
        assert info.value.type == "urn:splp:problem:upstream-auth"
        assert "Make sure" not in str(info.value.problem)  # the platform's words stay there
        assert leaks(info.value) == set()
        assert platform.answered == ["ok", "900901"]  # sent once
        assert len(platform.token_requests) == 2  # but renewed: the next call goes through
        answer = await client.call(THEME, SERVICE, "register-resident", {"name": "Siti"})
    assert answer["registered"] is True
    assert platform.answered == ["ok", "900901", "ok"]


async def test_many_calls_failing_on_one_token_renew_it_once(
    broker: Settings, tmp_path: Path
) -> None:
    platform = NationalPlatform(valid_for=1.2)
    async with fronted(broker, tmp_path, platform) as client:
        await get(client)
        await asyncio.sleep(1.3)
        await asyncio.gather(*(get(client) for _ in range(10)))
    assert len(platform.token_requests) == 2
    assert platform.answered.count("ok") == 11


@pytest.mark.parametrize("shape", ["flat", "nested", "xml"])
async def test_a_token_refused_again_is_502_upstream_auth(
    broker: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    platform = NationalPlatform(fault_shape=shape)
    async with fronted(broker, tmp_path, platform) as client:
        await get(client)
        platform.reject_every_token = True
        await asyncio.sleep(1.1)  # old enough to be worth renewing
        with pytest.raises(UpstreamAuth, match="900901 Invalid Credentials") as info:
            await get(client)
        assert leaks(info.value) == set()
        # one renewal and one retry, then the caller has its answer; a token that was
        # refused brand new is not renewed again on the next call
        assert platform.answered == ["ok", "900901", "900901"]
        monkeypatch.setattr(backend_auth, "RENEW_MIN_AGE", 60.0)  # however slow this machine
        with pytest.raises(UpstreamAuth):
            await get(client)
    assert len(platform.token_requests) == 2
    assert platform.answered == ["ok", "900901", "900901", "900901"]


async def test_missing_credentials_900902_is_502_without_a_renewal(
    broker: Settings, tmp_path: Path
) -> None:
    platform = NationalPlatform(token_header="AuthorizationSPLP")  # the adapter sends the other
    async with fronted(broker, tmp_path, platform) as client:
        for _ in range(3):
            with pytest.raises(UpstreamAuth, match="900902 Missing Credentials"):
                await get(client)
    assert len(platform.token_requests) == 1  # a new token would not mend it
    assert platform.answered == ["900902"] * 3


async def test_the_token_header_can_be_authorization_splp(
    broker: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPLP_TEST_NATIONAL_SECRET", CLIENT_SECRET)
    platform = NationalPlatform(token_header="AuthorizationSPLP")
    changes = (
        ("  client_secret_file: secrets/national-client-secret\n", ""),
        ("  scope: dukcapil\n", "  client_secret: ${SPLP_TEST_NATIONAL_SECRET}\n"),
        (
            "type: oauth2_client_credentials",
            "type: oauth2_client_credentials\n  header: AuthorizationSPLP\n  credentials_in: body",
        ),
    )
    async with fronted(broker, tmp_path, platform, *changes) as client:
        assert (await get(client))["nik"] == NIK
    assert platform.token_requests == [{"how": "body", "scope": None}]
    assert "authorizationsplp" in platform.calls[0]["headers"]
    assert "authorization" not in platform.calls[0]["headers"]


async def test_a_second_header_carries_the_backend_credentials(
    broker: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPLP_TEST_BACKEND_BASIC", BACKEND_CREDENTIAL.removeprefix("Basic "))
    platform = NationalPlatform(backend_credential=BACKEND_CREDENTIAL)
    second = (
        f"backend_credentials:\n  header: {BACKEND_HEADER}\n"
        "  value: Basic ${SPLP_TEST_BACKEND_BASIC}\noperations:"
    )
    async with fronted(broker, tmp_path, platform, ("operations:", second)) as client:
        assert (await get(client))["nik"] == NIK
    assert {"authorization", BACKEND_HEADER.lower()} <= platform.calls[0]["headers"]
    assert platform.answered == ["ok"]


async def test_without_the_backend_credentials_the_backends_401_is_upstream_auth(
    broker: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backend_auth, "RENEW_MIN_AGE", 60.0)  # however slow this machine
    platform = NationalPlatform(backend_credential=BACKEND_CREDENTIAL)
    async with fronted(broker, tmp_path, platform) as client:
        with pytest.raises(UpstreamAuth, match="refused the adapter's credentials") as info:
            await get(client)
    assert "backend:" not in str(info.value.problem)
    # a 401 from a token just fetched is not worth another token
    assert platform.answered == ["401"]
    assert len(platform.token_requests) == 1


async def test_an_api_key_profile(broker: Settings, tmp_path: Path) -> None:
    (tmp_path / "key").write_text(API_KEY)
    platform = NationalPlatform()
    profile = "auth:\n  type: api_key\n  key_file: key\n"
    async with fronted(broker, tmp_path, platform, auth=profile) as client:
        assert (await get(client))["nik"] == NIK
    assert platform.token_requests == []
    assert "apikey" in platform.calls[0]["headers"]
    assert "authorization" not in platform.calls[0]["headers"]


@pytest.mark.parametrize(("retry_after", "expected"), [("7", 7), (None, None)])
async def test_throttled_900804_is_429_with_retry_after(
    broker: Settings, tmp_path: Path, retry_after: str | None, expected: int | None
) -> None:
    platform = NationalPlatform(throttle_after=2, retry_after=retry_after)
    async with fronted(broker, tmp_path, platform) as client:
        await get(client)
        await get(client)
        with pytest.raises(TooManyRequests, match="900804") as info:
            await get(client)
    assert info.value.status == 429
    assert info.value.retry_after == expected
    assert platform.answered == ["ok", "ok", "900804"]  # not retried


async def test_a_bad_client_secret_is_502_upstream_auth(broker: Settings, tmp_path: Path) -> None:
    platform = NationalPlatform()
    async with fronted(broker, tmp_path, platform) as client:
        (tmp_path / "secrets" / "national-client-secret").write_text("read at start only")
        assert (await get(client))["nik"] == NIK
    wrong = tmp_path / "wrong"
    (wrong / "secrets").mkdir(parents=True)
    async with serve_app(platform.app()) as url:
        path = write_config(wrong, url)
        (wrong / "secrets" / "national-client-secret").write_text("not-the-secret-at-all")
        config, descriptor = load_http_config(path)
        assert descriptor is not None
        adapter = http_adapter(config, descriptor, broker, declare_topology=True)
        async with adapter, Client(broker) as client:
            with pytest.raises(UpstreamAuth, match="invalid_client") as info:
                await get(client)
            with pytest.raises(UpstreamAuth, match="invalid_client"):
                await get(client)  # tried again on the next call, not cached as a failure
    assert leaks(info.value) == set()
    assert len(platform.token_requests) == 3  # one good start, then two refused
    assert len(platform.calls) == 1  # nothing reached the API without a token


async def test_an_unreachable_token_endpoint_is_502(broker: Settings, tmp_path: Path) -> None:
    platform = NationalPlatform()
    async with serve_app(platform.app()) as url:
        path = write_config(tmp_path, url, ("token_url: " + url, "token_url: http://127.0.0.1:9"))
        config, descriptor = load_http_config(path)
        assert descriptor is not None
        adapter = http_adapter(config, descriptor, broker, declare_topology=True)
        async with adapter, Client(broker) as client:
            with pytest.raises(UpstreamError, match="token endpoint is unreachable") as info:
                await get(client)
    assert not isinstance(info.value, UpstreamAuth)
    assert platform.calls == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            (
                "client_secret_file: secrets/national-client-secret",
                "client_secret: ${SPLP_TEST_UNSET_SECRET}",
            ),
            "SPLP_TEST_UNSET_SECRET is not set",
        ),
        (
            ("client_secret_file: secrets/national-client-secret", "client_secret_file: nowhere"),
            r"auth.client_secret_file: cannot read .*nowhere: No such file",
        ),
        (
            ("client_secret_file: secrets/national-client-secret", "client_secret_file: empty"),
            r"auth.client_secret_file: .*empty is empty",
        ),
        (
            ("client_id: " + CLIENT_ID, "client_id: ${SPLP_TEST_UNSET_ID}"),
            "SPLP_TEST_UNSET_ID is not set",
        ),
    ],
)
def test_a_missing_secret_is_refused_at_start(
    broker: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    change: tuple[str, str],
    message: str,
) -> None:
    monkeypatch.delenv("SPLP_TEST_UNSET_SECRET", raising=False)
    monkeypatch.delenv("SPLP_TEST_UNSET_ID", raising=False)
    (tmp_path / "empty").write_text("\n")
    config, descriptor = load_http_config(write_config(tmp_path, "http://127.0.0.1:1", change))
    assert descriptor is not None
    with pytest.raises(ConfigurationError, match=message):
        http_adapter(config, descriptor, broker)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            (
                "client_secret_file: secrets/national-client-secret",
                "client_secret: written-in-the-config",
            ),
            r"client_secret: Value error, must be \$\{VAR\}",
        ),
        (
            ("  scope: dukcapil\n", "  client_secret: ${X}\n"),
            "exactly one of client_secret and client_secret_file",
        ),
        (
            ("type: oauth2_client_credentials", "type: saml"),
            "does not match any of the expected tags",
        ),
        (("token_url: http", "token_url: ftp"), "token_url"),
        (
            ("type: oauth2_client_credentials", "type: oauth2_client_credentials\n  header: X Bad"),
            "header",
        ),
        (
            ("timeout: 5", "timeout: 5\nheaders: {authorization: fixed}"),
            "authorization is already set by auth.header",
        ),
        (
            (
                "operations:",
                "backend_credentials: {header: Authorization, value: '${X}'}\noperations:",
            ),
            "same header",
        ),
        (
            (
                "operations:",
                "backend_credentials: {header: X-Backend, value: literal}\noperations:",
            ),
            r"must take its secret from \$\{VAR\}",
        ),
        (
            (
                "path: /residents/search, idempotent: true",
                "path: /residents/search, idempotent: maybe",
            ),
            "idempotent",
        ),
        (
            ("base_url: http://127.0.0.1:1", "base_url: http://127.0.0.1:1/a/../b"),
            r"\. or \.\. segments",
        ),
    ],
)
def test_bad_auth_configs_are_refused_with_one_clear_line(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message) as info:
        load_http_config(write_config(tmp_path, "http://127.0.0.1:1", change))
    assert "written-in-the-config" not in str(info.value)


def test_the_publisher_guides_example_is_a_valid_config(tmp_path: Path) -> None:
    """The "Fronting a national API" example loads, in both languages alike."""
    docs = Path(__file__).resolve().parent.parent / "docs"
    examples = []
    for page in (docs / "publisher-guide.md", docs / "id" / "publisher-guide.md"):
        text = page.read_text("utf-8")
        start = text.index("```yaml\nservice: pusat.dukcapil.v1")
        examples.append(text[start + len("```yaml\n") : text.index("```", start + 8)])
    assert examples[0] == examples[1]
    (tmp_path / "adapter.yaml").write_text(examples[0])
    config, descriptor = load_http_config(tmp_path / "adapter.yaml")
    assert descriptor is None  # from the directory
    assert config.auth is not None and config.auth.header == "AuthorizationSPLP"
    assert config.base_url.endswith("/t/bungokab.go.id/dukcapil/1.0")
    idempotent = {name: op.is_idempotent for name, op in config.operations.items()}
    assert idempotent == {"get-resident": True, "update-address": True, "register-birth": False}
