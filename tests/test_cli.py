"""The ``splp`` command as an operator runs it: a real process, real broker, real exit codes."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import string
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
    # an HTTP-only application: client credentials, a token, a call through the gateway
    assert re.search(r"\[gateway\] POST /api/dukcapil/penduduk/v1/get-by-nik -> 200 .*Siti", out)
    assert 'curl -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials' in out
    # the trail it printed: the Pasal 7 steps, the four answered calls, the broker's events
    trail = [line for line in out.splitlines() if line.strip().startswith("[audit] #")]
    kinds = [line.split()[3] for line in trail]
    steps = [k for k in kinds if k.startswith("access.")]
    assert steps == ["access.request", "access.approve", "access.grant", "access.revoke"]
    statuses = [line.split()[7] for line in trail if line.split()[3] == "response"]
    # the quota (7 a minute) lets 2 of the 5 flooding calls through, throttles 3
    throttled = re.search(r"\[throttled\] (\d) of 5 calls: TooManyRequests 429, retry after", out)
    assert throttled is not None, out
    refused = int(throttled.group(1))
    assert sorted(statuses) == ["200"] * (2 + 1 + 5 - refused) + ["400", "404"]
    gateway_calls = [line for line in trail if line.split()[3] == "response" and "gateway" in line]
    assert len(gateway_calls) == 1, trail
    assert kinds.count("throttled") == refused
    assert "broker.topic-permission-created" in kinds and "broker.user-created" in kinds
    assert re.search(r"\[verify\] audit chain intact: \d+ records", out)
    usage = re.search(r"\[usage\] \S+ service dukcapil.penduduk.v1: (.*)", out)
    assert usage is not None
    assert "calls=10 errors=2 error_rate=0.2" in usage.group(1)
    assert f"throttled={refused} active_grants=1" in usage.group(1)
    assert re.search(rf"\[abuse\] \S+-dinsos: {refused} refused \({refused} throttled", out)
    assert "demo finished: 10 calls through the bus" in out
    # nothing left running or left behind: the ports are closed, the vhost and users gone
    ports = re.findall(r"(?:on|\[gateway\]) http://127\.0\.0\.1:(\d+)", out)
    assert len(ports) >= 3, out  # the directory, the agency API and the gateway
    for port in ports:
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


def english_fragments() -> set[str]:
    """The fixed words of every English narration line that the Indonesian one lacks."""
    from splp.demo.phrases import TEMPLATES

    def pieces(template: str) -> set[str]:
        return {text.strip() for text, *_ in string.Formatter().parse(template) if text.strip()}

    indonesian = set().union(*(pieces(t) for t in TEMPLATES["id"].values()))
    english = set().union(*(pieces(t) for t in TEMPLATES["en"].values()))
    # a tag such as [call], or words; a lone word (user, by) may be data in a line
    return {p for p in english - indonesian if " " in p or re.fullmatch(r"\[\w+\]", p)}


async def test_demo_narrates_in_indonesian(management: httpx.AsyncClient) -> None:
    """`splp demo --lang id`: the same walk, every step and line in Bahasa Indonesia."""
    code, out, err = await splp("demo", "--lang", "id")
    assert code == 0, err
    steps = re.findall(r"^\[(\d+)/10\] (.*)$", out, flags=re.MULTILINE)
    assert [int(n) for n, _ in steps] == list(range(1, 11)), out
    assert [title for _, title in steps] == [
        "menjalankan layanan direktori, penyelaras broker, dan penampung audit",
        "administrator mendaftarkan Dukcapil, Dinsos, dan tema layanan kependudukan",
        "Dukcapil memublikasikan layanan data kependudukan dan menjalankan adapter HTTP-nya",
        "Dinsos memanggil layanan sebelum memperoleh hak akses",
        "Pasal 7: Dinsos mengajukan permohonan akses, administrator menyetujui, "
        "Dukcapil memberikan akses",
        "Dinsos melakukan panggilan nyata melalui bus",
        "aplikasi Dinsos yang hanya berbicara HTTP memperoleh token dan memanggil melalui "
        "gerbang HTTP",
        "Dinsos mengirim 5 panggilan sekaligus: adapter menegakkan kuota",
        "administrator mencabut hak akses",
        "jejak audit, verifikasinya, laporan penggunaan, dan laporan penyalahgunaan",
    ]
    refusals = re.findall(r"\[ditolak\] (.*?): broker menolak .*ACCESS_REFUSED", out)
    assert refusals == ["belum ada hak akses", "setelah pencabutan"], out
    assert "dinsos mengajukan permohonan akses: permohonan 1 berstatus submitted" in out
    assert re.search(r"\[panggilan\] get-by-nik -> 200 dalam .*Siti Aminah", out)
    assert "150801**********" in out and "1508010101900001" not in out  # NIKs are masked
    assert "[galat] NIK tidak terdaftar: NotFound 404" in out
    assert "[galat] format NIK salah: SchemaViolation 400" in out
    assert re.search(r"\[dibatasi\] \d dari 5 panggilan: TooManyRequests 429", out)
    assert re.search(r"\[verifikasi\] rantai audit utuh: \d+ catatan", out)
    assert re.search(r"\[penggunaan\] \S+ layanan dukcapil.penduduk.v1: calls=10 errors=2", out)
    assert re.search(r"\[gerbang\] POST /api/dukcapil/penduduk/v1/get-by-nik -> 200 dalam", out)
    assert re.search(r"\[penyalahgunaan\] \S+-dinsos: \d ditolak", out)
    assert "demo selesai: 10 panggilan melalui bus" in out
    leaked = sorted(f for f in english_fragments() if f in out)
    assert not leaked, f"English narration in the Indonesian demo: {leaked}\n{out}"
    vhost = re.search(r"vhost (splp-demo-[0-9a-f]+)", out).group(1)  # type: ignore[union-attr]
    vhosts = [v["name"] for v in (await management.get("/api/vhosts")).json()]
    assert vhost not in vhosts


async def test_demo_refuses_a_language_it_does_not_speak() -> None:
    code, out, err = await splp("demo", "--lang", "fr")
    assert code == 2 and out == ""
    assert "'fr' is not one of 'en', 'id'" in err


async def test_demo_serve_keeps_the_portal_open_with_demo_logins(
    management: httpx.AsyncClient,
) -> None:
    """`splp demo --serve`: after the walk the portal answers, each printed login signs in;
    Ctrl-C then takes everything down as the plain demo does."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "splp",
        "demo",
        "--serve",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(90):
            while not lines or "press Ctrl-C" not in lines[-1]:
                line = await process.stdout.readline()
                assert line, "the demo ended before serving:\n" + "".join(lines)
                lines.append(line.decode())
        out = "".join(lines)
        url = re.search(r"the portal \(Aplikasi SPLP\) is open on (http://\S+)/ ;", out)
        assert url, out
        logins = re.findall(r"(\w+) of (\w+): (\S+@\S+)  password (\S+)", out)
        assert [(role, party) for role, party, _, _ in logins] == [
            ("administrator", "admin"),
            ("publisher", "dukcapil"),
            ("requester", "dinsos"),
            ("monitor", "inspektorat"),
        ]
        async with httpx.AsyncClient(base_url=url.group(1)) as browser:
            page = await browser.get("/masuk")
            assert page.status_code == 200 and "Aplikasi SPLP" in page.text
            for _role, _party, address, password in logins:
                answer = await browser.post(
                    "/auth/login", json={"email": address, "password": password}
                )
                assert answer.status_code == 200, answer.text
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 30) == 130
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    vhost = re.search(r"vhost (splp-demo-[0-9a-f]+)", out).group(1)  # type: ignore[union-attr]
    vhosts = [v["name"] for v in (await management.get("/api/vhosts")).json()]
    assert vhost not in vhosts
