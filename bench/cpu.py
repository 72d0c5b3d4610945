"""CPU seconds spent by the client, the scenario's server and the broker during a timed run.

With two cores shared by client, server and broker, CPU per call explains throughput
better than wall time does. The broker figure includes anything else using the broker.
"""

from __future__ import annotations

import psutil

ROLES = ("client", "server", "broker")


def _cpu(process: psutil.Process | None) -> float | None:
    if process is None:
        return None
    try:
        times = process.cpu_times()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return float(times.user + times.system)


def find_broker(port: int) -> psutil.Process | None:
    """The local process listening on the AMQP ``port``, if we may see it."""
    for process in psutil.process_iter(["name"]):
        if process.info["name"] != "beam.smp":
            continue
        try:
            sockets = process.net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if any(s.status == psutil.CONN_LISTEN and s.laddr.port == port for s in sockets):
            return process
    return None


def _sum(values: list[float | None]) -> float | None:
    return None if not values or None in values else sum(v for v in values if v is not None)


class CpuMeter:
    """The CPU of the client, of all the scenario's server processes together, and of the broker."""

    def __init__(self, server_pids: list[int], broker: psutil.Process | None) -> None:
        self.processes = {
            "client": [psutil.Process()],
            "server": [psutil.Process(pid) for pid in server_pids],
            "broker": [broker] if broker else [],
        }

    def snapshot(self) -> dict[str, float | None]:
        return {
            role: _sum([_cpu(process) for process in processes])
            for role, processes in self.processes.items()
        }

    @staticmethod
    def per_call_us(
        before: dict[str, float | None], after: dict[str, float | None], calls: int
    ) -> dict[str, float | None]:
        """Microseconds of CPU per call for each role (``None`` when unknown)."""
        result: dict[str, float | None] = {}
        for role in ROLES:
            start, end = before.get(role), after.get(role)
            result[role] = None if start is None or end is None else (end - start) / calls * 1e6
        return result
