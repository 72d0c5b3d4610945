"""The 3-node RabbitMQ cluster of ``scripts/cluster.sh``, as the tests drive it.

The ``cluster`` fixture (tests/conftest.py) starts it once per test session with
``scripts/cluster.sh up`` (tens of seconds) and stops it with ``down`` at the end, unless it
was running already, in which case it is left running. It lives in ``SPLP_CLUSTER_DIR``
(default ``/tmp/splp-cluster``), on the loopback only: AMQP on 5701-5703, management on
15701-15703, Erlang distribution on 25701-25703; the machine's default node on 5672 is not
touched.
"""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "cluster.sh"
NODES = 3
BASE = 5700


@dataclass(frozen=True)
class Cluster:
    env: dict[str, str]

    def node(self, n: int) -> str:
        return f"splp{n}@localhost"

    def amqp_port(self, n: int) -> int:
        return BASE + n

    def management_port(self, n: int) -> int:
        return BASE + 10000 + n

    @property
    def amqp_urls(self) -> str:
        return ",".join(f"127.0.0.1:{self.amqp_port(n)}" for n in range(1, NODES + 1))

    @property
    def management_url(self) -> str:
        ports = [self.management_port(n) for n in range(1, NODES + 1)]
        return "http://guest:guest@" + ",".join(f"127.0.0.1:{p}" for p in ports)

    def script(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(SCRIPT), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    async def ascript(self, *args: str, timeout: float = 120) -> tuple[int, str]:
        """``script`` without blocking the event loop (the chaos test runs load meanwhile)."""
        process = await asyncio.create_subprocess_exec(
            "bash",
            str(SCRIPT),
            *args,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), timeout)
        assert process.returncode is not None
        return process.returncode, output.decode()

    async def actl(self, n: int, *args: str, timeout: float = 60) -> tuple[int, str]:
        """``rabbitmqctl -n NODE ARGS`` in node ``n``'s environment (its cookie)."""
        return await self.ascript("ctl", str(n), *args, timeout=timeout)

    def management(self, n: int = 1) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.management_port(n)}",
            auth=("guest", "guest"),
            timeout=30,
        )
