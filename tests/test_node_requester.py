"""The requester guide's worked example in another language: Node.js with plain amqplib
(``examples/node-requester``, following docs/wire-protocol.md only) calls a real adapter.

``scripts/setup.sh`` installs Node.js when it is missing and the example's locked
dependencies (``npm ci``).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from splp.adapters import Problem
from splp.bus import ServiceDescriptor
from splp.demo.agency import RESIDENTS
from splp.settings import Settings

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "node-requester"
SERVICE = "dukcapil.penduduk.v1"


async def get_by_nik(payload: dict[str, Any], _request: object) -> dict[str, Any]:
    resident = RESIDENTS.get(payload["nik"])
    if resident is None:
        raise Problem.not_found("no resident is registered under that NIK")
    return resident


async def node(broker: Settings, *args: str, url: str | None = None) -> tuple[int, str, str]:
    executable = shutil.which("node")
    assert executable, "node is not installed: run scripts/setup.sh"
    assert (EXAMPLE / "node_modules" / "amqplib").is_dir(), "run scripts/setup.sh (npm ci)"
    env = {**os.environ, "SPLP_AMQP_URL": url or broker.amqp_url, "SPLP_VHOST": broker.vhost}
    process = await asyncio.create_subprocess_exec(
        executable,
        str(EXAMPLE / "requester.mjs"),
        *args,
        cwd=EXAMPLE,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
async def adapter(make_adapter: Any, descriptor: ServiceDescriptor) -> None:
    await make_adapter(descriptor, {"get-by-nik": get_by_nik})


@pytest.fixture
async def stranger(broker: Settings, management: httpx.AsyncClient) -> AsyncIterator[str]:
    """The URL of a broker user who may connect to the vhost but publish nowhere."""
    user, password = f"node-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    (
        await management.put(f"/api/users/{user}", json={"password": password, "tags": ""})
    ).raise_for_status()
    vhost = quote(broker.vhost, safe="")
    nothing = {"configure": "^$", "write": "^$", "read": "^$"}
    (await management.put(f"/api/permissions/{vhost}/{user}", json=nothing)).raise_for_status()
    yield f"amqp://{user}:{password}@127.0.0.1:5672/"
    await management.delete(f"/api/users/{user}")


@pytest.mark.usefixtures("adapter")
async def test_the_node_example_calls_a_service_and_reads_its_problems(broker: Settings) -> None:
    nik = next(iter(RESIDENTS))
    code, out, err = await node(
        broker, "kependudukan", SERVICE, "get-by-nik", json.dumps({"nik": nik})
    )
    assert code == 0, err
    assert json.loads(out) == RESIDENTS[nik]

    code, out, err = await node(
        broker, "kependudukan", SERVICE, "get-by-nik", '{"nik": "1508019999999999"}'
    )
    assert (code, out) == (1, "")
    assert err.startswith("error: 404 urn:splp:problem:not-found: no resident"), err

    code, _out, err = await node(broker, "kependudukan", SERVICE, "get-by-nik", '{"nik": "15-08"}')
    assert code == 1 and "400 urn:splp:problem:schema-violation" in err, err


@pytest.mark.usefixtures("adapter")
async def test_the_node_example_reports_refusals_and_unknown_services(
    broker: Settings, stranger: str
) -> None:
    code, _out, err = await node(broker, "kependudukan", "dukcapil.nothing.v1", "get", "{}")
    assert code == 4 and "no service bound" in err, err
    nik = json.dumps({"nik": next(iter(RESIDENTS))})
    code, _out, err = await node(broker, "kependudukan", SERVICE, "get-by-nik", nik, url=stranger)
    assert code == 3 and "ACCESS_REFUSED" in err, err
    code, _out, err = await node(broker, "kependudukan", SERVICE, "get-by-nik", "{nik")
    assert code == 2 and "not JSON" in err, err
