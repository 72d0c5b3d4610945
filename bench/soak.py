"""A soak at steady load: ``python -m bench.soak --seconds 60 --rate 200``.

Every component runs as a real process of its own, as in production: the directory
(``splp directory serve`` on SQLite, set up through its API), the audit sink (``splp
audit sink`` on its own SQLite store), a Python SDK adapter that takes its descriptor and
grants from the directory and refreshes the grants every second, and a requester that
calls at a fixed rate with bounded concurrency. The RSS of each is sampled every second.

The verdict: every call got its own reply, the sink stored one event per call, no
component's RSS grew by more than ``--max-growth`` percent from the end of the warm-up
(the first quarter of the run) to the end, and no token or password reached a
component's log. ``tests/test_soak.py`` runs it for 60 s on the test vhost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

import aiormq

from bench.common import THEME, echo_descriptor
from bench.rss import RssSampler, RssSeries
from bench.soak_load import TEXT as PAYLOAD_TEXT
from bench.soak_setup import (
    REQUESTER,
    SERVICE,
    add_broker_user,
    configure_directory,
    delete_broker_user,
    init_directory,
    wait_until_serving,
)
from splp.bus.names import AUDIT_SINK_QUEUE, queue_for
from splp.http_server import free_port
from splp.settings import Settings

REPO = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
DRAIN_TIMEOUT = 60.0
MAX_GROWTH = 10.0


@dataclass
class SoakConfig:
    seconds: float = 60.0
    rate: float = 200.0
    concurrency: int = 16
    grants_refresh: float = 1.0
    max_growth: float = MAX_GROWTH

    @property
    def warmup(self) -> float:
        return self.seconds / 4


@dataclass
class SoakResult:
    config: SoakConfig
    load: dict[str, Any]
    rss: dict[str, RssSeries]
    audit_stored: int
    logs: dict[str, Path]
    secrets: dict[str, str] = field(repr=False)

    @property
    def grant_fetches(self) -> int:
        """Requests for the grants in the directory's access log (the adapter's refreshes)."""
        path = self.logs.get("directory")
        if path is None or not path.exists():
            return 0
        return sum(1 for line in path.read_text(errors="replace").splitlines() if "/grants" in line)

    @property
    def throughput(self) -> float:
        return float(self.load["answered"]) / float(self.load["seconds"])

    def leaks(self) -> list[str]:
        """``"<kind> in the <component> log"`` for each secret a component logged."""
        found = []
        for component, path in self.logs.items():
            text = path.read_text(errors="replace") if path.exists() else ""
            found += [
                f"{kind} in the {component} log"
                for kind, secret in self.secrets.items()
                if secret in text
            ]
        return found

    def problems(self) -> list[str]:
        """What failed the soak; empty when it passed."""
        load = self.load
        problems = []
        if load["failures"] or load["wrong"] or load["answered"] != load["calls"]:
            problems.append(
                f"{load['calls']} calls: {load['answered']} answered, {load['failures']} failed"
                f" {load['errors']}, {load['wrong']} wrong replies"
            )
        expected = load["answered"] + 1  # and the requester's first call, before the clock
        if self.audit_stored != expected:
            problems.append(f"the sink stored {self.audit_stored} call events of {expected}")
        if self.grant_fetches < load["seconds"] / self.config.grants_refresh / 2:
            problems.append(f"the adapter fetched its grants only {self.grant_fetches} times")
        for name, series in self.rss.items():
            growth = series.growth(self.config.warmup)
            if growth >= self.config.max_growth:
                problems.append(
                    f"{name} RSS grew {growth:.1f}% after the warm-up"
                    f" (limit {self.config.max_growth:.0f}%)"
                )
        return problems + self.leaks()

    def report(self) -> str:
        config, load = self.config, self.load
        lines = [
            f"soak: {load['seconds']:.0f} s at {config.rate:.0f} calls/s target,"
            f" at most {config.concurrency} in flight, grants refreshed every"
            f" {config.grants_refresh:g} s; warm-up {config.warmup:.0f} s",
            f"calls {load['calls']}  answered {load['answered']}  failed {load['failures']}"
            f"  wrong {load['wrong']}  throughput {self.throughput:.1f} calls/s"
            f"  latency p50 {load['p50_ms']:.2f} ms  p99 {load['p99_ms']:.2f} ms",
            f"audit events stored {self.audit_stored} (expected {load['answered'] + 1});"
            f" grants fetched from the directory {self.grant_fetches} times",
            f"{'component':<10} {'RSS warm-up':>12} {'RSS end':>10} {'growth':>8} {'samples':>8}",
        ]
        for name, series in self.rss.items():
            lines.append(
                f"{name:<10} {series.baseline(config.warmup) / 1024:>9.1f} MiB"
                f" {series.end() / 1024:>6.1f} MiB {series.growth(config.warmup):>+7.1f}%"
                f" {len(series.samples):>8}"
            )
        problems = self.problems()
        lines.append("verdict: " + ("ok" if not problems else "FAILED: " + "; ".join(problems)))
        return "\n".join(lines)


class Components:
    """Component processes, each in a session of its own with its stderr in a file."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self.logs: dict[str, Path] = {}
        self._files: list[TextIO] = []

    async def start(
        self, name: str, args: list[str], env: dict[str, str], *, stdout: bool = False
    ) -> asyncio.subprocess.Process:
        self.logs[name] = self.workdir / f"{name}.log"
        log = self.logs[name].open("w")
        self._files.append(log)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            cwd=REPO,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if stdout else log,
            stderr=log,
            start_new_session=True,
        )
        self.processes[name] = process
        return process

    async def stop_all(self) -> None:
        """SIGTERM in reverse order of start; SIGKILL whatever has not exited in time."""
        for process in reversed(self.processes.values()):
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    await process.wait()
        for log in self._files:
            log.close()


async def wait_for_consumer(settings: Settings, queue: str, process: Any) -> None:
    """Until ``queue`` has a consumer; fails early if ``process`` exits meanwhile."""
    end = time.monotonic() + READY_TIMEOUT
    connection = await aiormq.connect(settings.broker_url)
    try:
        while time.monotonic() < end:
            if process.returncode is not None:
                raise RuntimeError(f"a component exited ({process.returncode}) before consuming")
            channel = await connection.channel()
            try:
                declared = await channel.queue_declare(queue, passive=True)
                if declared.consumer_count:
                    return
                await channel.close()
            except aiormq.exceptions.ChannelNotFoundEntity:
                pass
            await asyncio.sleep(0.2)
    finally:
        await connection.close()
    raise RuntimeError(f"nobody consumed {queue} within {READY_TIMEOUT}s")


def stored_call_events(audit_db: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{audit_db}?mode=ro", uri=True)) as db:
        try:
            query = "SELECT count(*) FROM audit_records WHERE kind = 'response'"
            row = db.execute(query).fetchone()
        except sqlite3.OperationalError:  # not migrated yet
            return 0
    return int(row[0])


async def wait_for_events(audit_db: Path, expected: int) -> int:
    end = time.monotonic() + DRAIN_TIMEOUT
    while stored_call_events(audit_db) < expected and time.monotonic() < end:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # anything stored twice would show up now
    return stored_call_events(audit_db)


async def soak(config: SoakConfig, settings: Settings, workdir: Path) -> SoakResult:
    """Run the soak on the vhost of ``settings`` (which must exist); see the module doc."""
    ref = echo_descriptor(SERVICE).ref
    prefix = f"soak{uuid.uuid4().hex[:6]}-"
    base_env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "SPLP_AMQP_URL": settings.amqp_url,
        "SPLP_VHOST": settings.vhost,
        "SPLP_MANAGEMENT_URL": settings.management_url,
    }
    directory_env = {
        **base_env,
        "SPLP_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'directory.db'}",
        "SPLP_BROKER_RECONCILE": "false",  # the soak's broker user is made below
    }
    audit_db = workdir / "audit.db"
    components = Components(workdir)
    user = prefix + REQUESTER
    try:
        admin_token = await init_directory(directory_env)
        port = free_port()
        directory = await components.start(
            "directory",
            ["-m", "splp", "directory", "serve", "--port", str(port)],
            directory_env,
        )
        url = f"http://127.0.0.1:{port}"
        await wait_until_serving(url)
        parties = await configure_directory(url, admin_token)
        password = await add_broker_user(settings, user)
        sink_env = {
            **base_env,
            "SPLP_AUDIT_DATABASE_URL": f"sqlite+aiosqlite:///{audit_db}",
            "SPLP_BROKER_EVENTS_VHOST": "",  # the shared broker's events are not the soak's
        }
        sink = await components.start("sink", ["-m", "splp", "audit", "sink"], sink_env)
        await wait_for_consumer(settings, AUDIT_SINK_QUEUE, sink)
        adapter_env = {
            **base_env,
            "SPLP_DIRECTORY_URL": url,
            "SPLP_TOKEN": parties.publisher_token,
            "SPLP_CACHE_DIR": str(workdir / "cache"),
            "SPLP_GRANTS_REFRESH": str(config.grants_refresh),
            "SPLP_BROKER_USER_PREFIX": prefix,
        }
        adapter = await components.start(
            "adapter", ["-m", "bench.soak_adapter", str(ref)], adapter_env
        )
        await wait_for_consumer(settings, queue_for(ref), adapter)
        requester_url = (
            f"amqp://{quote(user, safe='')}:{quote(password, safe='')}@"
            f"{settings.amqp_url.split('@', 1)[1]}"
        )
        load = await components.start(
            "requester",
            [
                "-m",
                "bench.soak_load",
                str(ref),
                THEME,
                str(config.rate),
                str(config.concurrency),
                str(config.seconds),
            ],
            {**base_env, "SPLP_AMQP_URL": requester_url},
            stdout=True,
        )
        assert load.stdout is not None
        ready = await asyncio.wait_for(load.stdout.readline(), READY_TIMEOUT)
        if ready.strip() != b"ready":
            raise RuntimeError(f"the requester did not start: {ready!r}; see {workdir}")
        pids = {name: p.pid for name, p in components.processes.items()}
        sampler = RssSampler(pids)
        end = time.monotonic() + config.seconds + READY_TIMEOUT
        while load.returncode is None and time.monotonic() < end:
            sampler.sample()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(load.wait()), 1.0)
        line = await asyncio.wait_for(load.stdout.readline(), STOP_TIMEOUT)
        if not line.startswith(b"result "):
            raise RuntimeError(f"the requester gave no result ({load.returncode}); see {workdir}")
        result = json.loads(line[len(b"result ") :])
        for name, process in (("directory", directory), ("sink", sink), ("adapter", adapter)):
            if process.returncode is not None:
                raise RuntimeError(f"the {name} exited ({process.returncode}) during the soak")
        stored = await wait_for_events(audit_db, result["answered"] + 1)
    finally:
        await components.stop_all()
        with contextlib.suppress(Exception):
            await delete_broker_user(settings, user)
    secrets = {
        "the administrator's token": parties.admin_token,
        "the publisher's token": parties.publisher_token,
        "the requester's token": parties.requester_token,
        "the requester's broker password": password,
        "a request payload": PAYLOAD_TEXT,
    }
    return SoakResult(config, result, sampler.series, stored, components.logs, secrets)


async def _main(config: SoakConfig) -> SoakResult:
    from bench.vhost import throwaway_vhost

    base = Settings()
    async with throwaway_vhost(base.management_url, base.username) as vhost:
        with tempfile.TemporaryDirectory(prefix="splp-soak-") as workdir:
            return await soak(config, base.model_copy(update={"vhost": vhost}), Path(workdir))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description="A soak test.")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the load")
    parser.add_argument("--rate", type=float, default=200.0, help="calls per second")
    parser.add_argument("--concurrency", type=int, default=16, help="calls in flight, at most")
    parser.add_argument("--max-growth", type=float, default=MAX_GROWTH, help="RSS growth limit, %%")
    args = parser.parse_args()
    config = SoakConfig(args.seconds, args.rate, args.concurrency, max_growth=args.max_growth)
    result = asyncio.run(_main(config))
    print(result.report())
    sys.exit(1 if result.problems() else 0)


if __name__ == "__main__":
    main()
