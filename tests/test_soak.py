"""A 60-second soak at steady load (``bench/soak.py``): every component a real process.

The directory, the audit sink, an SDK adapter served by the directory and a requester at
200 calls/s run for 60 s on a vhost of their own (the session's test vhost holds the audit
events of every earlier test in its ``splp.audit.sink``). It fails when a call fails or gets a reply
that is not its own, when the sink did not store one event per call, when the RSS of any
component grows by 10% or more after the warm-up, or when a component logs a secret.
The report (throughput, latency, RSS per component) is printed in the pytest output and
kept in the test's temporary directory as ``soak-report.txt``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.soak import SoakConfig, soak
from bench.vhost import throwaway_vhost
from splp.settings import Settings


@pytest.mark.chaos
@pytest.mark.slow
async def test_a_60_second_soak_keeps_every_call_and_flat_memory(
    broker: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with throwaway_vhost(broker.management_url, broker.username) as vhost:
        settings = broker.model_copy(update={"vhost": vhost})
        result = await soak(SoakConfig(seconds=60, rate=200, concurrency=16), settings, tmp_path)
    report = result.report()
    (tmp_path / "soak-report.txt").write_text(report + "\n")
    with capsys.disabled():  # the figures are the point: shown even when the test passes
        print("\n" + report)
    assert result.problems() == [], report
