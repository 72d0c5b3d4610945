"""The conformance kit (``splp conformance serve|call|bus``, wire protocol §17) run on the
real broker against the doc's own reference implementations, in both directions:

* each server (Node.js ``server.mjs``, plain-aiormq ``server.py``, and the SDK's adapter)
  is called by the SDK's requester and the kit's raw probes;
* each requester (Node.js ``requester.mjs``, plain-aiormq ``requester.py``, and
  ``splp call``) calls the SDK's adapter.

A server that breaks the MUSTs is failed by the kit, rule by rule.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from splp.conformance import Checklist, check_caller, check_server
from splp.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
NODE = ROOT / "examples" / "node-requester"
PLAIN = ROOT / "examples" / "python-aiormq"
DATA = ROOT / "tests" / "data"
PYTHON = sys.executable
SDK_CALL = [
    PYTHON,
    "-c",
    "import sys; from splp.cli import main; "
    "sys.argv = ['splp', 'call', '--timeout', sys.argv[5], *sys.argv[1:5]]; main()",
]


def node() -> str:
    executable = shutil.which("node")
    assert executable, "node is not installed: run scripts/setup.sh"
    assert (NODE / "node_modules" / "amqplib").is_dir(), "run scripts/setup.sh (npm ci)"
    return executable


def failures(checklist: Checklist) -> dict[str, str]:
    return {check.rule: check.detail for check in checklist.checks if check.passed is False}


SERVERS = {
    "node": lambda: [node(), str(NODE / "server.mjs")],
    "plain-python": lambda: [PYTHON, str(PLAIN / "server.py")],
    "sdk-adapter": lambda: [PYTHON, str(DATA / "sdk_server.py")],
}
REQUESTERS = {
    "node": lambda: [node(), str(NODE / "requester.mjs")],
    "plain-python": lambda: [PYTHON, str(PLAIN / "requester.py")],
    "sdk-cli": lambda: SDK_CALL,
}


@pytest.mark.parametrize("server", SERVERS)
async def test_every_reference_server_passes_every_observable_must(
    broker: Settings, server: str
) -> None:
    checklist = await check_server(SERVERS[server](), broker)
    assert failures(checklist) == {}
    rules = [check.rule for check in checklist.checks]
    assert rules == [f"S-{n}" for n in range(1, 22)]
    assert {c.rule for c in checklist.checks if c.passed is None} == {"S-20", "S-21"}


@pytest.mark.parametrize("requester", REQUESTERS)
async def test_every_reference_requester_passes_every_must(
    broker: Settings, requester: str
) -> None:
    checklist = await check_caller(REQUESTERS[requester](), broker)
    assert failures(checklist) == {}
    assert [check.rule for check in checklist.checks] == [f"R-{n}" for n in range(1, 12)]
    assert all(check.passed for check in checklist.checks)


async def test_a_server_that_checks_nothing_fails_rule_by_rule(broker: Settings) -> None:
    # 2 s instead of the rules' 5 s per awaited message: this server never sends most of them
    checklist = await check_server([PYTHON, str(DATA / "lax_server.py")], broker, wait=2)
    failed = failures(checklist)
    # it answers: what the SDK requester sees is fine, but no answer is audited
    assert "S-1" not in failed
    assert failed["S-2"] == failed["S-9"] == "no audit event on splp.audit within 2 s"
    # it checks nothing: every refusal, drop and audit rule fails, each saying why
    assert {f"S-{n}" for n in (3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16, 17, 18)} <= set(failed)
    assert failed["S-4"].startswith("expected splp-status 403; got splp-status 200")
    assert failed["S-11"] == "not rejected to splp.dlx (no dead letter within 2 s)"
    assert failed["S-18"] == "no audit message at all"


async def test_a_server_that_does_not_start_fails_at_once(broker: Settings) -> None:
    checklist = await check_server(
        [PYTHON, "-c", "import sys; sys.exit('no broker for me')"], broker
    )
    [check] = checklist.checks
    assert (check.rule, check.passed) == ("S-1", False)
    assert "exit code 1" in check.detail and "no broker for me" in check.detail


async def splp_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        PYTHON,
        "-m",
        "splp",
        *args,
        env=env or dict(os.environ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 180)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def conformance_vhosts(management: httpx.AsyncClient) -> set[str]:
    vhosts = (await management.get("/api/vhosts")).json()
    return {v["name"] for v in vhosts if v["name"].startswith("splp-conformance-")}


async def test_the_cli_prints_each_must_and_cleans_up(management: httpx.AsyncClient) -> None:
    before = await conformance_vhosts(management)
    code, out, err = await splp_cli(
        "conformance", "serve", "--json", "--", node(), str(NODE / "server.mjs")
    )
    assert code == 0, err
    report: dict[str, Any] = json.loads(out)
    assert (report["mode"], report["passed"], report["failed"]) == ("serve", 19, 0)
    assert report["checks"][0]["rule"] == "S-1"

    code, out, err = await splp_cli("conformance", "serve", "--", PYTHON, "-c", "exit(7)")
    assert code == 1
    assert out.startswith("FAIL  S-1   consumes splp.svc.dukcapil.penduduk.v1"), out
    assert "the server did not start: exit code 7" in out
    assert await conformance_vhosts(management) == before


async def test_a_bus_to_try_a_client_on_by_hand(management: httpx.AsyncClient) -> None:
    process = await asyncio.create_subprocess_exec(
        PYTHON,
        "-m",
        "splp",
        "conformance",
        "bus",
        "--json",
        "--seconds",
        "30",
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    text = b""
    while not text.rstrip().endswith(b"}"):
        text += await asyncio.wait_for(process.stdout.readline(), 30)
    urls = json.loads(text)
    vhost = urls["vhost"]
    assert urls["requester_url"].endswith(f"/{vhost}")
    queue = (await management.get(f"/api/queues/{vhost}/splp.svc.dukcapil.penduduk.v1")).json()
    assert queue["arguments"]["x-dead-letter-exchange"] == "splp.dlx"
    process.terminate()
    assert await asyncio.wait_for(process.wait(), 30) == 0
    assert vhost not in await conformance_vhosts(management)
