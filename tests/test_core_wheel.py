"""The core wheel that an agency embeds: ``pip install splp`` with no extras.

The wheel is built from this tree, installed into a throw-away virtual environment with
its declared dependencies only, and used there for a real call: an HTTP adapter (the
demo's config) in front of the agency stub, and the requester SDK, through the test
session's broker vhost. Nothing of the control plane or the CLI may be installed or
imported.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from splp.settings import Settings
from tests.conftest import DEMO

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "asyncpg", "typer", "rich")

CALL = """
import asyncio, json, sys
from splp.adapters import http_adapter, load_http_config
from splp.bus import Client
from splp.settings import Settings

async def main():
    settings = Settings()
    config, descriptor = load_http_config(sys.argv[1])
    config.base_url = sys.argv[2]
    adapter = http_adapter(config, descriptor, settings, declare_topology=True)
    await adapter.start()
    try:
        async with Client(settings) as client:
            resident = await client.call(
                "kependudukan", "dukcapil.penduduk.v1", "get-by-nik",
                {"nik": "1508010101900001"}, timeout=10,
            )
    finally:
        await adapter.stop(grace=5)
    loaded = sorted(m for m in sys.argv[3].split(",") if m in sys.modules)
    print(json.dumps({"name": resident["name"], "loaded": loaded}))

asyncio.run(main())
"""


def run(*args: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """A command, in a thread of its own: the agency stub answers on the test's event loop."""
    result = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        **kwargs,  # type: ignore[arg-type]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.mark.slow
async def test_the_core_wheel_calls_through_a_real_adapter(
    tmp_path: Path, broker: Settings, od_api: str
) -> None:
    dist = tmp_path / "dist"
    await asyncio.to_thread(
        run,
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        dist,
        ROOT,
    )
    (wheel,) = dist.glob("splp-*.whl")
    env_dir = tmp_path / "venv"
    await asyncio.to_thread(venv.create, env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    await asyncio.to_thread(
        run,
        python,
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
        wheel,
    )

    installed = {
        line.split("==")[0].lower()
        for line in (
            await asyncio.to_thread(run, python, "-m", "pip", "freeze")
        ).stdout.splitlines()
    }
    assert installed.isdisjoint(HEAVY), installed & set(HEAVY)

    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "SPLP_AMQP_URL": broker.amqp_url,
        "SPLP_VHOST": broker.vhost,
    }
    result = await asyncio.to_thread(
        run,
        python,
        "-c",
        CALL,
        DEMO / "adapter.yaml",
        od_api,
        ",".join(HEAVY),
        env=env,
        cwd=tmp_path,
    )
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {"name": "Siti Aminah", "loaded": []}

    command = await asyncio.to_thread(
        subprocess.run,
        [str(env_dir / "bin" / "splp"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert command.returncode == 2
    assert "pip install 'splp[cli]'" in command.stderr
    assert "Traceback" not in command.stderr
