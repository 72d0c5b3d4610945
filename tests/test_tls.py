"""TLS on the real broker and a real directory server, with a CA the tests generate.

RabbitMQ gets a TLS listener for the module, started at runtime on a free port with
``rabbitmqctl eval`` (no configuration file touched, no restart) and stopped afterwards.
An SDK call through an adapter works over ``amqps`` with the CA, and the broker reports
both connections as TLS on that port; without the CA, or with a stranger CA, connecting
fails at once with an error that names certificate verification. The directory, served
over HTTPS by uvicorn (in-process, and by ``splp directory serve --tls-cert``), is
reached by the CLI and by the data plane's cache with the CA, and refused without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import ssl
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from splp.adapters import Adapter, http_adapter, load_http_config
from splp.bus import Client
from splp.bus.directory_cache import DirectoryCache
from splp.cli import app as cli_app
from splp.cli.exits import EXIT_UNAVAILABLE, EXIT_USAGE
from splp.control_plane import close_app, create_app
from splp.demo.agency import create_app as create_agency
from splp.directory_service import Store
from splp.directory_service.parties import create_party
from splp.errors import ConfigurationError, ServiceUnavailable, UpstreamError
from splp.http_server import free_port, serve_app
from splp.settings import Settings
from tests.conftest import DEMO
from tests.pki import Pki, make_pki
from tests.services import HANDLERS, echo_descriptor

ECHO = echo_descriptor()
REFUSED = "TLS certificate verification failed"


def rabbitmqctl(*args: str) -> str:
    done = subprocess.run(
        ["rabbitmqctl", *args], capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {args[0]} failed: {done.stderr.strip()}")
    return done.stdout.strip()


@pytest.fixture(scope="module")
def pki() -> Iterator[Pki]:
    with make_pki() as made:
        yield made


@contextlib.contextmanager
def tls_listener(pki: Pki, *, mutual: bool) -> Iterator[int]:
    """A TLS listener on 127.0.0.1 of the running broker, with the test CA's server
    certificate; ``mutual``: clients must present a certificate of the test CA."""
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed: cannot add a TLS listener to the broker")
    port = free_port()
    listener = f'{{"127.0.0.1", {port}}}'
    peer = (
        "verify_peer}, {fail_if_no_peer_cert, true"
        if mutual
        else ("verify_none}, {fail_if_no_peer_cert, false")
    )
    options = (
        f'[{{cacertfile, "{pki.ca}"}}, {{certfile, "{pki.server_cert}"}}, '
        f'{{keyfile, "{pki.server_key}"}}, {{verify, {peer}}}]'
    )
    started = rabbitmqctl(
        "eval", f"rabbit_networking:start_ssl_listener({listener}, {options}, 1)."
    )
    assert started == "ok", started
    try:
        yield port
    finally:
        rabbitmqctl("eval", f"rabbit_networking:stop_tcp_listener({listener}).")


@pytest.fixture(scope="module")
def amqps_port(pki: Pki) -> Iterator[int]:
    with tls_listener(pki, mutual=False) as port:
        yield port


def tls_settings(broker: Settings, port: int, ca: Path | None) -> Settings:
    return Settings(
        amqp_url=f"amqps://guest:guest@localhost:{port}/", vhost=broker.vhost, tls_ca_file=ca
    )


def broker_connections(vhost: str) -> dict[str, dict[str, Any]]:
    """The broker's own view of the connections in ``vhost``, by connection name."""
    items = ("ssl", "port", "client_properties")
    rows = json.loads(rabbitmqctl("list_connections", "-p", vhost, *items, "--formatter", "json"))
    named = {}
    for row in rows:
        properties = {key: value for key, _type, value in row["client_properties"]}
        named[properties.get("connection_name", "")] = row
    return named


async def test_a_call_through_an_adapter_over_amqps(
    broker: Settings, pki: Pki, amqps_port: int
) -> None:
    settings = tls_settings(broker, amqps_port, pki.ca)
    suffix = uuid.uuid4().hex[:8]
    adapter = Adapter(ECHO, HANDLERS, settings, declare_topology=True, name=f"tls-a-{suffix}")
    await adapter.start()
    try:
        async with Client(settings, name=f"tls-r-{suffix}") as client:
            reply = await client.call("uji", ECHO.ref, "echo", {"id": 7})
            assert reply["id"] == 7
            connections = await asyncio.to_thread(broker_connections, broker.vhost)
    finally:
        await adapter.stop(grace=5)
    for name in (f"tls-a-{suffix}", f"tls-r-{suffix}"):
        assert connections[name]["ssl"] is True, connections[name]
        assert connections[name]["port"] == amqps_port


async def test_the_tls_port_speaks_only_tls(broker: Settings, amqps_port: int) -> None:
    plain = Settings(amqp_url=f"amqp://guest:guest@127.0.0.1:{amqps_port}/", vhost=broker.vhost)
    with pytest.raises(ServiceUnavailable, match="cannot reach broker"):
        async with asyncio.timeout(15), Client(plain):
            pass


@pytest.mark.parametrize("trust", ["system store", "stranger CA"])
async def test_a_broker_the_ca_did_not_sign_is_refused_at_once(
    broker: Settings, pki: Pki, amqps_port: int, trust: str
) -> None:
    settings = tls_settings(broker, amqps_port, pki.stranger_ca if trust == "stranger CA" else None)
    for component in (Client(settings), Adapter(ECHO, HANDLERS, settings)):
        with pytest.raises(ServiceUnavailable) as info:
            async with asyncio.timeout(10):
                await component.start() if isinstance(
                    component, Adapter
                ) else await component.connect()
        assert REFUSED in str(info.value) and "SPLP_TLS_CA_FILE" in str(info.value)
        assert f"localhost:{amqps_port}" in str(info.value)


async def test_mutual_tls_with_a_client_certificate(broker: Settings, pki: Pki) -> None:
    with tls_listener(pki, mutual=True) as port:
        settings = tls_settings(broker, port, pki.ca)
        with pytest.raises(
            ServiceUnavailable, match=f"cannot reach broker localhost:{port}"
        ) as info:
            async with asyncio.timeout(10), Client(settings):
                pass
        assert "SPLP_TLS_CERT_FILE" in str(info.value)
        with_cert = Settings(
            **settings.model_dump(include={"amqp_url", "vhost", "tls_ca_file"}),
            tls_cert_file=pki.client_cert,
            tls_key_file=pki.client_key,
        )
        name = f"tls-m-{uuid.uuid4().hex[:8]}"
        async with asyncio.timeout(10), Client(with_cert, name=name):
            connections = await asyncio.to_thread(broker_connections, broker.vhost)
    assert connections[name]["ssl"] is True and connections[name]["port"] == port


# --- the directory over HTTPS ---------------------------------------------------------


@pytest.fixture
async def https_directory(tmp_path: Path, pki: Pki) -> AsyncIterator[tuple[str, str]]:
    async with serving_https(tmp_path, pki) as served:
        yield served


@contextlib.asynccontextmanager
async def serving_https(tmp_path: Path, pki: Pki) -> AsyncIterator[tuple[str, str]]:
    """A directory on uvicorn over TLS; yields its URL and an administrator's token."""
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'directory.db'}")
    await store.migrate()
    async with store.session() as session:
        _party, token = await create_party(session, "kominfo", ["administrator"])
    settings = Settings(
        database_url=store.url, amqp_url="amqp://guest:guest@127.0.0.1:1/", broker_reconcile=False
    )
    app = create_app(settings, store=store)
    async with serve_app(app, certfile=str(pki.server_cert), keyfile=str(pki.server_key)) as url:
        assert url.startswith("https://")
        yield url, token
    await close_app(app)
    await store.close()


async def cli(url: str, token: str, ca: Path | None, *args: str) -> Any:
    env = {"SPLP_DIRECTORY_URL": url, "SPLP_TOKEN": token, "SPLP_TLS_CA_FILE": ca and str(ca)}
    # the server runs on this event loop: the (synchronous) command runs beside it
    return await asyncio.to_thread(CliRunner().invoke, cli_app, list(args), env=env)


async def test_the_cli_reaches_an_https_directory_with_the_ca(
    https_directory: tuple[str, str], pki: Pki
) -> None:
    url, token = https_directory
    result = await cli(url, token, pki.ca, "party", "list", "--json")
    assert result.exit_code == 0, result.output
    assert [party["name"] for party in json.loads(result.stdout)] == ["kominfo"]


@pytest.mark.parametrize("trust", ["system store", "stranger CA"])
async def test_the_cli_refuses_an_https_directory_the_ca_did_not_sign(
    https_directory: tuple[str, str], pki: Pki, trust: str
) -> None:
    url, token = https_directory
    ca = pki.stranger_ca if trust == "stranger CA" else None
    result = await cli(url, token, ca, "party", "list")
    assert result.exit_code == EXIT_UNAVAILABLE, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: directory {url} is unreachable: ")
    assert REFUSED in lines[0] and "SPLP_TLS_CA_FILE" in lines[0]


async def test_the_directory_cache_verifies_with_the_ca(
    https_directory: tuple[str, str], pki: Pki, tmp_path: Path
) -> None:
    url, token = https_directory

    def cache(ca: Path | None) -> DirectoryCache:
        return DirectoryCache(
            Settings(
                directory_url=url,
                token=SecretStr(token),
                tls_ca_file=ca,
                cache_dir=tmp_path / str(ca),
            )
        )

    trusted = cache(pki.ca)
    try:
        assert [party["name"] for party in await trusted.get("/parties")] == ["kominfo"]
    finally:
        await trusted.aclose()
    for ca in (None, pki.stranger_ca):
        refused = cache(ca)
        try:
            with pytest.raises(ServiceUnavailable, match=REFUSED):
                await refused.get("/parties")
        finally:
            await refused.aclose()


async def test_a_certificate_for_another_host_is_refused(tmp_path: Path) -> None:
    with make_pki(hosts=("elsewhere.example",)) as misnamed:
        async with serving_https(tmp_path, misnamed) as (url, token):
            result = await cli(url, token, misnamed.ca, "party", "list")
    assert result.exit_code == EXIT_UNAVAILABLE, result.output
    assert "not valid for '127.0.0.1'" in result.stderr
    assert "does not name the host" in result.stderr


@pytest.mark.slow
async def test_directory_serve_with_tls_cert_and_key(pki: Pki, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SPLP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'directory.db'}",
        "SPLP_AMQP_URL": "amqp://guest:guest@127.0.0.1:1/",
        "SPLP_BROKER_RECONCILE": "false",
        "SPLP_DIRECTORY_TLS_CERT": str(pki.server_cert),
        "SPLP_DIRECTORY_TLS_KEY": str(pki.server_key),
    }
    command = [sys.executable, "-m", "splp", "directory", "serve", "--port", str(port)]
    server = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    trusted = httpx.AsyncClient(verify=ssl.create_default_context(cafile=pki.ca))
    try:
        async with asyncio.timeout(30):
            while True:
                if server.returncode is not None:
                    assert server.stderr is not None
                    pytest.fail((await server.stderr.read()).decode()[-2000:])
                try:
                    response = await trusted.get(f"https://127.0.0.1:{port}/themes")
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.2)
        assert response.status_code == 401  # served over TLS; a token is still needed
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):  # no plain HTTP
            async with httpx.AsyncClient() as http:
                await http.get(f"http://127.0.0.1:{port}/themes")
    finally:
        await trusted.aclose()
        server.terminate()
        async with asyncio.timeout(10):
            await server.wait()


def test_directory_serve_wants_both_tls_files(pki: Pki) -> None:
    result = CliRunner().invoke(cli_app, ["directory", "serve", "--tls-cert", str(pki.server_cert)])
    assert result.exit_code == EXIT_USAGE
    assert "--tls-cert and --tls-key go together" in result.stderr


async def test_the_http_adapter_checks_an_https_agency_against_its_ca_file(
    broker: Settings, pki: Pki, tmp_path: Path
) -> None:
    """An agency API on HTTPS with a private CA: ``ca_file`` in the adapter config."""
    config_text = (
        (DEMO / "adapter.yaml")
        .read_text()
        .replace("descriptor: penduduk.yaml", f"descriptor: {DEMO / 'penduduk.yaml'}")
    )
    nik = {"nik": "1508010101900001"}
    async with serve_app(
        create_agency(), certfile=str(pki.server_cert), keyfile=str(pki.server_key)
    ) as url:
        for name, extra, expected in (
            ("trusted", f"ca_file: {pki.ca}\n", None),
            ("stranger", f"ca_file: {pki.stranger_ca}\n", UpstreamError),
            ("default", "", UpstreamError),  # a private CA is in no public bundle
        ):
            path = tmp_path / f"{name}.yaml"
            path.write_text(config_text.replace("base_url:", extra + "base_url:"))
            config, descriptor = load_http_config(path)
            config.base_url = url
            assert descriptor is not None
            adapter = http_adapter(config, descriptor, broker, declare_topology=True)
            async with adapter, Client(broker) as client:
                call = client.call("kependudukan", descriptor.ref, "get-by-nik", nik, timeout=10)
                if expected is None:
                    assert (await call)["name"] == "Siti Aminah"
                else:
                    with pytest.raises(expected):
                        await call
    with pytest.raises(ConfigurationError, match="ca_file"):
        http_adapter(
            config.model_copy(update={"ca_file": tmp_path / "missing.pem"}), descriptor, broker
        )
