"""The 3-node RabbitMQ cluster of ``scripts/cluster.sh``, once per test session.

* ``cluster`` - the cluster, started by ``scripts/cluster.sh up`` (tens of seconds, once) and
  stopped by ``down`` at the end of the session - unless it was running already, in which
  case it is left running;
* ``cluster_settings`` - :class:`Settings` naming the three nodes (``SPLP_AMQP_URLS``, so
  quorum queues) and their management APIs, on a throw-away vhost of the session.

The cluster lives in ``SPLP_CLUSTER_DIR`` (default ``/tmp/splp-cluster``), on
the loopback only, on ports 5701-5703 (AMQP), 15701-15703 (management) and 25701-25703
(Erlang distribution); the machine's default node on 5672 is not touched.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from splp.settings import Settings

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "cluster.sh"
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


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    cluster = Cluster(dict(os.environ))  # SPLP_CLUSTER_DIR, default /tmp/splp-cluster
    was_up = cluster.script("status").returncode == 0
    result = cluster.script("up", timeout=240)
    if result.returncode != 0:
        cluster.script("down")
        pytest.fail(f"scripts/cluster.sh up failed:\n{result.stdout}\n{result.stderr}")
    try:
        yield cluster
    finally:
        if not was_up:
            down = cluster.script("down")
            assert down.returncode == 0, down.stderr


@pytest.fixture(scope="session")
async def cluster_settings(cluster: Cluster) -> AsyncIterator[Settings]:
    vhost = f"splp-cluster-{uuid.uuid4().hex[:10]}"
    path = quote(vhost, safe="")
    async with cluster.management() as management:
        (await management.put(f"/api/vhosts/{path}")).raise_for_status()
        permissions = {"configure": ".*", "write": ".*", "read": ".*"}
        (
            await management.put(f"/api/permissions/{path}/guest", json=permissions)
        ).raise_for_status()
        try:
            yield Settings(
                amqp_url=f"amqp://guest:guest@127.0.0.1:{cluster.amqp_port(1)}/",
                amqp_urls=cluster.amqp_urls,
                management_url=cluster.management_url,
                vhost=vhost,
            )
        finally:
            for n in range(1, NODES + 1):  # whichever node is up at the end
                async with cluster.management(n) as m:
                    try:
                        await m.delete(f"/api/vhosts/{path}")
                        break
                    except httpx.HTTPError:
                        continue
