"""One benchmark session: start the servers and clients, warm up, time the rounds."""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import sys
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.callers import Caller, make_caller
from bench.common import CLUSTER_SCENARIOS, scaled
from bench.cpu import CpuMeter, find_broker
from bench.measure import Result, concurrent, sequential
from bench.processes import ServerProcess
from splp.settings import Settings

# the cluster of scripts/cluster.sh
CLUSTER_AMQP_URL = "amqp://guest:guest@127.0.0.1:5701/"
CLUSTER_AMQP_URLS = "127.0.0.1:5701,127.0.0.1:5702,127.0.0.1:5703"
CLUSTER_MANAGEMENT_URL = "http://guest:guest@127.0.0.1:15701"


@dataclass(frozen=True, slots=True)
class Options:
    calls: int
    rounds: int
    warmup: int
    concurrency: int
    scenarios: list[str]
    uvloop: bool
    amqp_url: str
    management_url: str
    profile: Path | None = None
    cluster_amqp_url: str = CLUSTER_AMQP_URL
    cluster_amqp_urls: str = CLUSTER_AMQP_URLS
    cluster_management_url: str = CLUSTER_MANAGEMENT_URL


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def server_processes(scenario: str) -> list[str]:
    """The server processes of ``scenario``: its own, and the audit sink or more replicas."""
    if scenario == "splp-audit":
        return [scenario, "audit-sink"]
    if scenario == "gateway":  # the gateway first: its caller needs what it reports
        return [scenario, "gateway-echo"]
    if scenario.startswith("replicas-"):
        return [scenario] * scaled(scenario)
    return [scenario]


async def start_servers(
    options: Options,
    vhost: str,
    stack: contextlib.AsyncExitStack,
    cluster_vhost: str | None = None,
) -> dict[str, list[ServerProcess]]:
    """The server processes of each scenario, each stopped when ``stack`` closes; those of
    the cluster scenarios on the cluster's nodes, in ``cluster_vhost``."""
    servers: dict[str, list[ServerProcess]] = {}
    for scenario in options.scenarios:
        servers[scenario] = []
        for number, name in enumerate(server_processes(scenario)):
            if scenario in CLUSTER_SCENARIOS:
                assert cluster_vhost is not None
                args = ["--amqp-url", options.cluster_amqp_url, "--vhost", cluster_vhost,
                        "--amqp-urls", options.cluster_amqp_urls]  # fmt: skip
            else:
                args = ["--amqp-url", options.amqp_url, "--vhost", vhost]
            args.append("--uvloop" if options.uvloop else "--no-uvloop")
            if options.profile:
                args += ["--profile", str(options.profile / f"server-{name}-{number}.prof")]
            server = ServerProcess(name, args)
            stack.push_async_callback(server.stop)
            servers[scenario].append(server)
    async with asyncio.TaskGroup() as group:
        for processes in servers.values():
            for server in processes:
                group.create_task(server.start())
    log("servers ready: " + ", ".join(
        f"{s} (pid {', '.join(str(p.pid) for p in ps)})" for s, ps in servers.items()))
    return servers


async def start_callers(
    servers: dict[str, list[ServerProcess]],
    settings: Settings,
    stack: contextlib.AsyncExitStack,
    cluster: Settings | None = None,
) -> dict[str, Caller]:
    callers: dict[str, Caller] = {}
    for scenario, processes in servers.items():
        on = cluster if scenario in CLUSTER_SCENARIOS and cluster is not None else settings
        caller = make_caller(scenario, on, processes[0].info)
        await caller.start()
        stack.push_async_callback(caller.close)
        callers[scenario] = caller
    return callers


async def measure(
    options: Options, callers: dict[str, Caller], servers: dict[str, list[ServerProcess]]
) -> list[Result]:
    """Warm every scenario up, then time each one per round, both modes back to back."""
    for scenario, caller in callers.items():
        log(f"warming up {scenario}")
        await sequential(caller.call, options.warmup)
        await concurrent(caller.call, options.warmup, options.concurrency)
    results = {(s, m): Result(s, m) for s in callers for m in ("sequential", "concurrent")}
    order = list(callers)
    broker = find_broker(urlsplit(options.amqp_url).port or 5672)
    meters = {
        # the broker column is the single node's: none for the cluster's scenarios
        scenario: CpuMeter(
            [p.pid for p in servers[scenario] if p.pid],
            None if scenario in CLUSTER_SCENARIOS else broker,
        )
        for scenario in order
    }
    profiler = cProfile.Profile() if options.profile else None
    for number in range(options.rounds):
        shift = number % len(order)  # rotate, so that no scenario always runs first
        for scenario in order[shift:] + order[:shift]:
            call, meter = callers[scenario].call, meters[scenario]
            if profiler:
                profiler.enable()
            before = meter.snapshot()
            seq = await sequential(call, options.calls)
            middle = meter.snapshot()
            conc = await concurrent(call, options.calls, options.concurrency)
            after = meter.snapshot()
            if profiler:
                profiler.disable()
            seq.cpu_us = meter.per_call_us(before, middle, seq.calls)
            conc.cpu_us = meter.per_call_us(middle, after, conc.calls)
            results[scenario, "sequential"].runs.append(seq)
            results[scenario, "concurrent"].runs.append(conc)
            log(f"round {number + 1}/{options.rounds} {scenario}: "
                f"{seq.throughput:.0f}/s sequential, {conc.throughput:.0f}/s concurrent")
    if profiler and options.profile:
        profiler.dump_stats(options.profile / "client.prof")
    return list(results.values())


async def while_servers_live(
    work: Coroutine[Any, Any, list[Result]], servers: dict[str, list[ServerProcess]]
) -> list[Result]:
    """Run ``work``, but fail at once if a server dies (a call to it would never return)."""
    task = asyncio.ensure_future(work)
    exits = {
        asyncio.ensure_future(server.exited()): server
        for processes in servers.values()
        for server in processes
    }
    try:
        done, _ = await asyncio.wait({task, *exits}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        server = next(server for future, server in exits.items() if future in done)
        raise RuntimeError(f"the {server.scenario} server exited (code {await server.exited()})")
    finally:
        for future in (task, *exits):
            future.cancel()
        await asyncio.gather(task, *exits, return_exceptions=True)
