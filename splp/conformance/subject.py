"""The implementation under test: a command the kit starts, with the run's broker URL.

The command gets ``SPLP_AMQP_URL`` (its own broker user, the vhost in the URL's path, §2)
and ``SPLP_MAX_BODY_BYTES`` (the run's body limit, §12) in its environment, and no
``SPLP_VHOST``. A server runs until the kit stops it (SIGTERM); a requester is started
once per call with ``THEME SERVICE OPERATION JSON TIMEOUT_SECONDS`` appended.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass


def environment(url: str, max_body_bytes: int) -> list[str]:
    """The prefix that runs a command in the kit's environment: ``env(1)`` changes it on
    the way, so the kit itself never reads the environment (only Settings does)."""
    return [
        "env",
        "-u",
        "SPLP_VHOST",
        f"SPLP_AMQP_URL={url}",
        f"SPLP_MAX_BODY_BYTES={max_body_bytes}",
    ]


@dataclass(frozen=True, slots=True)
class Finished:
    """A requester run: exit code, stdout and stderr, and how long it took."""

    code: int
    stdout: str
    stderr: str
    seconds: float


async def run_once(
    command: Sequence[str], args: Sequence[str], env: Sequence[str], limit: float
) -> Finished:
    """Run ``command args``; killed (code -9) after ``limit`` seconds."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    process = await asyncio.create_subprocess_exec(
        *env,
        *command,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), limit)
    except TimeoutError:
        process.kill()
        out, err = await process.communicate()
    assert process.returncode is not None
    return Finished(
        process.returncode,
        out.decode(errors="replace"),
        err.decode(errors="replace"),
        loop.time() - started,
    )


class Server:
    """``async with Server(command, env):`` the server under test, stopped on exit."""

    def __init__(self, command: Sequence[str], env: Sequence[str]) -> None:
        self.command = list(command)
        self.env = env
        self.process: asyncio.subprocess.Process | None = None
        # a file, not a pipe: a pipe nobody reads could block the server; closed on exit
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115

    async def __aenter__(self) -> Server:
        self.process = await asyncio.create_subprocess_exec(
            *self.env,
            *self.command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=self._stderr,
        )
        return self

    @property
    def exited(self) -> int | None:
        return None if self.process is None else self.process.returncode

    def stderr_tail(self) -> str:
        """The last 2,000 characters the server wrote on stderr."""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-2000:]

    async def __aexit__(self, *exc_info: object) -> None:
        process = self.process
        with contextlib.ExitStack() as closing:
            closing.callback(self._stderr.close)
            if process is not None and process.returncode is None:
                await self._stop(process)

    @staticmethod
    async def _stop(process: asyncio.subprocess.Process) -> None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()
