"""The ``splp`` command as an operator runs it: a real process, real broker, real exit codes."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest

from splp.bus import Client
from splp.settings import Settings
from tests.conftest import DEMO
from tests.logcapture import check_text
from tests.services import HANDLERS, echo_descriptor

ECHO = echo_descriptor(service="echo-cli")


async def splp(
    *args: str, env: dict[str, str] | None = None, stdin: bytes | None = None
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "splp",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    out, err = await asyncio.wait_for(process.communicate(stdin), 60)
    assert process.returncode is not None
    check_text(err.decode(), f"stderr of splp {args[0] if args else ''}")  # its log lines
    return process.returncode, out.decode(), err.decode()


def one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in stderr
    return lines[0]


@pytest.fixture
def env(broker: Settings) -> dict[str, str]:
    return {"SPLP_VHOST": broker.vhost}


async def test_call_prints_the_reply(env: dict[str, str], make_adapter) -> None:
    await make_adapter(ECHO, HANDLERS)
    code, out, err = await splp("call", "uji", str(ECHO.ref), "echo", '{"id": 12}', env=env)
    assert code == 0, err
    assert '"id": 12' in out


async def test_call_reads_the_payload_from_stdin(env: dict[str, str], make_adapter) -> None:
    await make_adapter(ECHO, HANDLERS)
    code, out, _ = await splp(
        "call", "uji", str(ECHO.ref), "echo", "-", env=env, stdin=b'{"id": 13}'
    )
    assert code == 0 and '"id": 13' in out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["uji", "uji.echo-cli.v1", "echo", "{not json"], 2, "PAYLOAD is not valid JSON"),
        (["uji", "uji.echo-cli", "echo", "{}"], 2, "PUBLISHER.SERVICE.vMAJOR"),
        (["UJI", "uji.echo-cli.v1", "echo", "{}"], 2, "invalid theme"),
        (["uji", "uji.echo-cli.v1", "echo", '{"id": "x"}'], 1, "Schema violation"),
        (["uji", "uji.nothing.v1", "echo", "{}"], 4, "no service is bound"),
        (
            ["uji", "uji.echo-cli.v1", "echo", '{"id": 1, "delay": 3}', "--timeout", "0.2"],
            5,
            "no reply",
        ),
    ],
)
async def test_call_errors_are_one_line_with_an_exit_code(
    env: dict[str, str], make_adapter, args: list[str], code: int, message: str
) -> None:
    await make_adapter(ECHO, HANDLERS)
    got, _, err = await splp("call", *args, env=env)
    assert got == code, err
    assert message in one_line_error(err)


async def test_bad_broker_credentials_are_exit_3(env: dict[str, str]) -> None:
    env = {**env, "SPLP_AMQP_URL": "amqp://nobody:wrong@127.0.0.1:5672/"}
    code, _, err = await splp("call", "uji", "uji.echo.v1", "echo", "{}", env=env)
    assert code == 3
    line = one_line_error(err)
    assert "refused the credentials" in line and "wrong" not in line


async def test_adapter_run_rejects_a_missing_config(env: dict[str, str], tmp_path: Path) -> None:
    code, _, err = await splp("adapter", "run", str(tmp_path / "nope.yaml"), env=env)
    assert code == 2
    assert "cannot read" in one_line_error(err)


async def test_adapter_run_serves_until_sigterm(
    env: dict[str, str], broker: Settings, od_api: str, tmp_path: Path
) -> None:
    config = (DEMO / "adapter.yaml").read_text().replace("http://127.0.0.1:8471", od_api)
    (tmp_path / "adapter.yaml").write_text(config)
    (tmp_path / "penduduk.yaml").write_text((DEMO / "penduduk.yaml").read_text())
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "splp",
        "adapter",
        "run",
        str(tmp_path / "adapter.yaml"),
        "--declare",
        env={**os.environ, **env},
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with Client(broker) as client:
            for _ in range(100):  # until the adapter has declared its queue and consumes
                try:
                    reply = await client.call(
                        "kependudukan",
                        "dukcapil.penduduk.v1",
                        "get-by-nik",
                        {"nik": "1508014505850002"},
                        timeout=1,
                    )
                    break
                except Exception:
                    await asyncio.sleep(0.2)
            else:
                pytest.fail("the adapter never answered")
        assert reply["name"] == "Ahmad Fauzi"
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 15) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_demo_walks_the_whole_bus_and_leaves_nothing_behind(
    management: httpx.AsyncClient,
) -> None:
    code, out, err = await splp("demo")
    assert code == 0, err
    # the broker refuses Dinsos before the grant and after the revocation
    refusals = re.findall(r"\[refused\] (.*?): the broker refused .*ACCESS_REFUSED", out)
    assert refusals == ["no grant yet", "after the revocation"], out
    for said in ("dinsos applied: request 1 is submitted", "approved: approved", "granted"):
        assert said in out
    assert re.search(r"\[call\] get-by-nik -> 200 .*Siti Aminah", out)
    assert "150801**********" in out and "1508010101900001" not in out  # NIKs are masked
    assert "[error] unknown NIK: NotFound 404" in out
    assert "[error] malformed NIK: SchemaViolation 400" in out
    # the trail it printed: the Pasal 7 steps, the four answered calls, the broker's events
    trail = [line for line in out.splitlines() if line.strip().startswith("[audit] #")]
    kinds = [line.split()[3] for line in trail]
    steps = [k for k in kinds if k.startswith("access.")]
    assert steps == ["access.request", "access.approve", "access.grant", "access.revoke"]
    statuses = [line.split()[7] for line in trail if line.split()[3] == "response"]
    # the quota (6 a minute) lets 2 of the 5 flooding calls through, throttles 3
    throttled = re.search(r"\[throttled\] (\d) of 5 calls: TooManyRequests 429, retry after", out)
    assert throttled is not None, out
    refused = int(throttled.group(1))
    assert sorted(statuses) == ["200"] * (2 + 5 - refused) + ["400", "404"]
    assert kinds.count("throttled") == refused
    assert "broker.topic-permission-created" in kinds and "broker.user-created" in kinds
    assert re.search(r"\[verify\] audit chain intact: \d+ records", out)
    usage = re.search(r"\[usage\] \S+ service dukcapil.penduduk.v1: (.*)", out)
    assert usage is not None
    assert "calls=9 errors=2 error_rate=0.2222" in usage.group(1)
    assert f"throttled={refused} active_grants=1" in usage.group(1)
    assert re.search(rf"\[abuse\] \S+-dinsos: {refused} refused \({refused} throttled", out)
    assert "demo finished: 9 calls through the bus" in out
    # nothing left running or left behind: the ports are closed, the vhost and users gone
    for port in re.findall(r"on http://127\.0\.0\.1:(\d+)", out):
        with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
            sock.connect(("127.0.0.1", int(port)))
    vhost = re.search(r"vhost (splp-demo-[0-9a-f]+)", out).group(1)  # type: ignore[union-attr]
    vhosts = [v["name"] for v in (await management.get("/api/vhosts")).json()]
    assert vhost not in vhosts
    prefix = "demo" + vhost.removeprefix("splp-demo-") + "-"
    users = [u["name"] for u in (await management.get("/api/users")).json()]
    assert not [u for u in users if u.startswith(prefix)]
    queues = [q["name"] for q in (await management.get("/api/queues/%2F")).json()]
    assert "splp.audit.broker-events.demo-" + vhost.removeprefix("splp-demo-") not in queues
