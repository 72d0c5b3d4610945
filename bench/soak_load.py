"""The soak's requester: ``python -m bench.soak_load SERVICE THEME RATE CONCURRENCY SECONDS``.

Calls ``echo`` at a fixed rate (a new call every ``1/RATE`` seconds, at most
``CONCURRENCY`` in flight: when the adapter falls behind, the rate drops rather than the
queue growing), checks that every reply is its own request echoed, and prints one JSON
line: calls, failures, wrong replies, elapsed seconds, latency percentiles.
"""

from __future__ import annotations

import array
import asyncio
import json
import logging
import sys
import time
from typing import Any

from splp.bus import Client
from splp.errors import SplpError
from splp.settings import Settings

TEXT = "Sistem Penghubung Layanan Pemerintah (soak payload 5c1f)"  # never in a log
CALL_TIMEOUT = 10.0


class Tally:
    """Outcomes, with latencies in microseconds in a compact array (flat memory)."""

    def __init__(self) -> None:
        self.latencies = array.array("I")
        self.failures = 0
        self.wrong = 0
        self.errors: dict[str, int] = {}

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] / 1000.0


async def one_call(client: Client, theme: str, service: str, index: int, tally: Tally) -> None:
    payload = {"id": index, "text": TEXT}
    started = time.perf_counter()
    try:
        reply = await client.call(theme, service, "echo", payload, timeout=CALL_TIMEOUT)
    except SplpError as exc:
        tally.failures += 1
        name = type(exc).__name__
        tally.errors[name] = tally.errors.get(name, 0) + 1
        return
    tally.latencies.append(int((time.perf_counter() - started) * 1e6))
    if reply != payload:
        tally.wrong += 1


async def run(service: str, theme: str, rate: float, concurrency: int, seconds: float) -> Any:
    tally = Tally()
    slots = asyncio.Semaphore(concurrency)
    tasks: set[asyncio.Task[None]] = set()

    async def bounded(client: Client, index: int) -> None:
        try:
            await one_call(client, theme, service, index, tally)
        finally:
            slots.release()

    async with Client(Settings()) as client:
        await client.call(theme, service, "echo", {"id": -1, "text": TEXT}, timeout=CALL_TIMEOUT)
        print("ready", flush=True)
        started = time.monotonic()
        index = 0
        while (now := time.monotonic()) - started < seconds:
            due = started + index / rate
            if due > now:
                await asyncio.sleep(due - now)
            await slots.acquire()
            task = asyncio.create_task(bounded(client, index))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            index += 1
        if tasks:
            await asyncio.wait(tasks, timeout=CALL_TIMEOUT + 5)
        elapsed = time.monotonic() - started
    return {
        "calls": index,
        "answered": len(tally.latencies),
        "failures": tally.failures,
        "wrong": tally.wrong,
        "errors": tally.errors,
        "seconds": round(elapsed, 2),
        "p50_ms": round(tally.percentile(50), 2),
        "p99_ms": round(tally.percentile(99), 2),
    }


def main() -> None:
    service, theme = sys.argv[1], sys.argv[2]
    rate, concurrency, seconds = float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    result = asyncio.run(run(service, theme, rate, concurrency, seconds))
    print("result " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
