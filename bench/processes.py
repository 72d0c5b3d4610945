"""Server processes: one per scenario, started the same way for every scenario."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 300.0  # 1,000 adapters take a while to declare and start
STOP_TIMEOUT = 15.0


class ServerProcess:
    """``python -m bench.server SCENARIO`` in a new session (Ctrl-C reaches only us)."""

    def __init__(self, scenario: str, args: list[str]) -> None:
        self.scenario = scenario
        self.args = args
        self.process: asyncio.subprocess.Process | None = None
        self.info: dict[str, Any] = {}

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    async def start(self) -> dict[str, Any]:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.server", self.scenario, *self.args,
            cwd=REPO,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), READY_TIMEOUT)
        if not line.startswith(b"ready "):
            code = await self.process.wait()
            raise RuntimeError(f"the {self.scenario} server exited ({code}) before it was ready")
        self.info = json.loads(line[len(b"ready "):])
        return self.info

    async def exited(self) -> int:
        """Wait until the process ends; its exit code."""
        assert self.process is not None
        return await self.process.wait()

    async def stop(self) -> int | None:
        """Close its stdin (it then shuts down cleanly); kill it if it does not exit in time."""
        process = self.process
        if process is None or process.returncode is not None:
            return None if process is None else process.returncode
        if process.stdin is not None:
            process.stdin.close()
        try:
            return await asyncio.wait_for(asyncio.shield(process.wait()), STOP_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            return await process.wait()
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise
