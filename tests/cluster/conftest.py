"""Settings for the cluster of ``scripts/cluster.sh`` (the ``cluster`` fixture is in
tests/conftest.py, see tests/cluster_nodes.py).

* ``cluster_settings`` - :class:`Settings` naming the three nodes (``SPLP_AMQP_URLS``, so
  quorum queues) and their management APIs, on a throw-away vhost of the session.
* ``cluster_figures`` - a list of lines a test fills with its figures (the chaos test);
  pytest prints them in a "cluster figures" section of its terminal summary, so a CI log
  shows them without ``-s``, whether the test passed or failed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from splp.settings import Settings
from tests.cluster_nodes import NODES, Cluster

FIGURES = pytest.StashKey[list[str]]()


@pytest.fixture
def cluster_figures(request: pytest.FixtureRequest) -> list[str]:
    return request.config.stash.setdefault(FIGURES, [])


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    lines = config.stash.get(FIGURES, [])
    if lines:
        terminalreporter.section("cluster figures")
        for line in lines:
            terminalreporter.write_line(line)


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
