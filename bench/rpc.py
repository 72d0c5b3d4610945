"""RPC benchmark: raw aio-pika, SPLP (Python handler, with the audit sink, HTTP adapter,
services at scale, replicas), direct HTTP, FastStream.

Run from the repository root::

    .venv/bin/python -m bench.rpc [--calls N] [--rounds R] [--only splp,aio-pika] [--json FILE]
    .venv/bin/python -m bench.rpc --all      # also services-1000 (1,000 adapters)

Everything runs in one throw-away vhost on one broker, but ``splp-cluster``: the same
adapter on the 3-node cluster of ``scripts/cluster.sh`` (``--cluster-*``), with quorum
queues, in a throw-away vhost there (``--only aio-pika,splp,splp-cluster``). Each
scenario's server side (echo consumer, adapter, HTTP stub) runs in its own process, so the
client and the server each have a core. Ratios against raw aio-pika pair the rounds (see
bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as ``python bench/rpc.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BASELINE, CLUSTER_SCENARIOS, DEFAULT_SCENARIOS, SCENARIOS, run
from bench.report import add_ratios, cluster_ratios, table, targets
from bench.session import (
    CLUSTER_AMQP_URL,
    CLUSTER_AMQP_URLS,
    CLUSTER_MANAGEMENT_URL,
    Options,
    log,
    measure,
    start_callers,
    start_servers,
    while_servers_live,
)
from bench.vhost import throwaway_vhost
from splp.settings import Settings

PACKAGES = ("splp", "aio-pika", "aiormq", "faststream", "aiohttp", "uvicorn", "uvloop")


def metadata(options: Options) -> dict[str, Any]:
    return {
        "calls": options.calls,
        "rounds": options.rounds,
        "warmup": options.warmup,
        "concurrency": options.concurrency,
        "uvloop": options.uvloop,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
        "versions": {name: version(name) for name in PACKAGES},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


async def bench(options: Options) -> dict[str, Any]:
    """The whole run; the vhost, servers and clients are gone when it returns or raises."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    meta = metadata(options)
    user = Settings(amqp_url=options.amqp_url).username
    async with contextlib.AsyncExitStack() as stack:
        vhost = await stack.enter_async_context(throwaway_vhost(options.management_url, user))
        log(f"vhost {vhost}")
        settings = Settings(amqp_url=options.amqp_url, vhost=vhost)
        cluster = cluster_vhost = None
        if set(options.scenarios) & set(CLUSTER_SCENARIOS):
            cluster_vhost = await stack.enter_async_context(
                throwaway_vhost(options.cluster_management_url, user)
            )
            cluster = Settings(
                amqp_url=options.cluster_amqp_url,
                amqp_urls=options.cluster_amqp_urls,
                vhost=cluster_vhost,
            )
            log(f"cluster vhost {cluster_vhost} ({cluster.queue_type} queues)")
        servers = await start_servers(options, vhost, stack, cluster_vhost)
        callers = await start_callers(servers, settings, stack, cluster)
        results = await while_servers_live(measure(options, callers, servers), servers)
    meta["loadavg_end"] = os.getloadavg()
    rows = [result.summary() for result in results]
    add_ratios(rows)
    return {
        "meta": meta,
        "results": rows,
        "targets": targets(rows),
        "cluster_vs_single_node": cluster_ratios(rows),
    }


def scenarios(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(SCENARIOS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown scenarios {unknown}; choose from {SCENARIOS}")
    return [s for s in SCENARIOS if s in names]  # baseline first, whatever the order given


def parse_args(argv: list[str] | None = None) -> tuple[Options, Path | None]:
    defaults = Settings(vhost="unused")
    parser = argparse.ArgumentParser(
        prog="python -m bench.rpc",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--calls", type=int, default=1000, help="calls per mode per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, interleaving scenarios")
    parser.add_argument("--warmup", type=int, default=300, help="calls per mode before timing")
    parser.add_argument("--concurrency", type=int, default=64, help="calls in flight")
    parser.add_argument("--only", type=scenarios, default=list(DEFAULT_SCENARIOS),
                        help=f"comma-separated subset of {','.join(SCENARIOS)} "
                        "(default: all but services-1000)")
    parser.add_argument("--all", action="store_true", help="every scenario")
    parser.add_argument("--uvloop", action=argparse.BooleanOptionalAction, default=True,
                        help="use uvloop in every process (default: on)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--profile", type=Path,
                        help="write cProfile stats of the client and each server to this folder")
    parser.add_argument("--amqp-url", default=defaults.amqp_url)
    parser.add_argument("--management-url", default=defaults.management_url)
    parser.add_argument("--cluster-amqp-url", default=CLUSTER_AMQP_URL,
                        help="splp-cluster: a node's URL, with the credentials "
                        "(default: scripts/cluster.sh's first node)")
    parser.add_argument("--cluster-amqp-urls", default=CLUSTER_AMQP_URLS,
                        help="splp-cluster: the cluster's nodes, comma-separated")
    parser.add_argument("--cluster-management-url", default=CLUSTER_MANAGEMENT_URL)
    args = parser.parse_args(argv)
    if min(args.calls, args.rounds, args.concurrency) < 1 or args.warmup < 0:
        parser.error("--calls, --rounds and --concurrency must be positive")
    if args.all:
        args.only = list(SCENARIOS)
    if BASELINE not in args.only:
        log(f"note: without {BASELINE} there are no ratios")
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    options = Options(
        calls=args.calls, rounds=args.rounds, warmup=args.warmup,
        concurrency=args.concurrency, scenarios=args.only, uvloop=args.uvloop,
        amqp_url=args.amqp_url, management_url=args.management_url, profile=args.profile,
        cluster_amqp_url=args.cluster_amqp_url, cluster_amqp_urls=args.cluster_amqp_urls,
        cluster_management_url=args.cluster_management_url,
    )
    return options, args.json


def main(argv: list[str] | None = None) -> int:
    options, json_path = parse_args(argv)
    try:
        report = run(bench(options), options.uvloop)
    except (KeyboardInterrupt, asyncio.CancelledError):
        log("interrupted; servers stopped and vhost deleted")
        return 130
    except RuntimeError as exc:
        log(f"error: {exc}; servers stopped and vhost deleted")
        return 1
    meta = report["meta"]
    print(table(report["results"], report["targets"], options.concurrency))
    if report["cluster_vs_single_node"]:
        print("\nsplp-cluster (3 nodes, quorum queues) / splp (one node, classic queues): "
              + ", ".join(f"{mode} {ratio:.2f}x"
                          for mode, ratio in report["cluster_vs_single_node"].items()))
    print(f"\nload average (1 min) at start {meta['loadavg_start'][0]:.2f}, "
          f"at end {meta['loadavg_end'][0]:.2f}, on {meta['cpus']} CPUs")
    if json_path:
        json_path.write_text(json.dumps(report, indent=2) + "\n")
        log(f"wrote {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
