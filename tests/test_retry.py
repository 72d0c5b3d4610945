"""The one retry helper (:mod:`splp.retry`), on the real event loop and real sleeps."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from splp.errors import ServiceUnavailable
from splp.retry import retry_until_done
from tests.logcapture import PAYLOAD_MARKER


class Flaky:
    """Fails ``failures`` times with ``error``, then returns ``"done"``; notes each start."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.started: list[float] = []
        self.called = asyncio.Event()

    async def __call__(self) -> str:
        self.started.append(time.monotonic())
        self.called.set()
        if len(self.started) <= self.failures:
            raise self.error
        return "done"


def retry_records(caplog: pytest.LogCaptureFixture, what: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith(f"{what} failed")]


async def test_retries_until_done_with_waits_growing_between_the_bounds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="splp.retry")
    operation = Flaky(8, ServiceUnavailable("cannot reach broker 127.0.0.1:5672/splp"))
    result = await retry_until_done(
        operation, on=ServiceUnavailable, what="test reconnect", initial=0.01, maximum=0.04
    )
    assert result == "done"
    assert len(operation.started) == 9
    gaps = [b - a for a, b in zip(operation.started, operation.started[1:], strict=False)]
    assert all(gap >= 0.01 - 0.001 for gap in gaps), gaps  # never below ``initial``

    records = retry_records(caplog, "test reconnect")
    assert [r.args[1] for r in records] == list(range(1, 9))  # type: ignore[index]
    waits = [float(r.args[2]) for r in records]  # type: ignore[index, arg-type]
    assert waits[0] == pytest.approx(0.01)
    for attempt, wait in enumerate(waits, start=1):
        assert 0.01 <= wait <= min(0.04, 0.01 * 2 ** (attempt - 1)) + 1e-9, (attempt, waits)
    assert len(set(waits[2:])) > 1, f"no jitter: {waits}"
    assert max(waits) <= 0.04
    # SPLP's own errors are written for operators: their message is logged
    assert "ServiceUnavailable: cannot reach broker 127.0.0.1:5672/splp" in records[0].getMessage()
    assert all(r.levelno == logging.WARNING for r in records)


async def test_a_long_outage_is_waited_out_without_giving_up() -> None:
    operation = Flaky(60, ConnectionRefusedError(111, "Connection refused"))
    result = await retry_until_done(
        operation, on=OSError, what="test outage", initial=0.001, maximum=0.002
    )
    assert result == "done"
    assert len(operation.started) == 61


async def test_another_exception_is_not_retried() -> None:
    operation = Flaky(1, KeyError("surprise"))
    with pytest.raises(KeyError, match="surprise"):
        await retry_until_done(
            operation, on=(ServiceUnavailable, OSError), what="test", initial=0.01, maximum=0.1
        )
    assert len(operation.started) == 1


async def test_a_foreign_error_is_logged_by_its_type_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="splp.retry")
    operation = Flaky(1, ValueError(f"INSERT ... VALUES ('{PAYLOAD_MARKER}')"))
    assert (
        await retry_until_done(
            operation, on=ValueError, what="test write", initial=0.01, maximum=0.1
        )
        == "done"
    )
    [record] = retry_records(caplog, "test write")
    assert record.getMessage().endswith(": ValueError")
    assert PAYLOAD_MARKER not in caplog.text


async def test_the_log_goes_to_the_given_logger(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="splp.audit.sink")
    operation = Flaky(1, OSError("disk full"))
    logger = logging.getLogger("splp.audit.sink")
    await retry_until_done(
        operation, on=OSError, what="test store", initial=0.01, maximum=0.1, logger=logger
    )
    [record] = retry_records(caplog, "test store")
    assert record.name == "splp.audit.sink"


async def test_cancelling_during_a_wait_stops_the_retries() -> None:
    operation = Flaky(1000, OSError("down"))
    task = asyncio.create_task(
        retry_until_done(operation, on=OSError, what="test cancel", initial=5.0, maximum=5.0)
    )
    await operation.called.wait()
    await asyncio.sleep(0.05)  # now in its 5-second wait
    task.cancel()
    await asyncio.wait({task}, timeout=2)  # a swallowed cancellation would retry on and on
    assert task.cancelled()
    assert len(operation.started) == 1


async def test_cancelling_during_an_attempt_is_not_retried() -> None:
    started = 0
    entered = asyncio.Event()

    async def hangs() -> None:
        nonlocal started
        started += 1
        entered.set()
        await asyncio.Event().wait()

    # even with ``Exception`` as the retried kind, a cancellation goes straight through
    task = asyncio.create_task(
        retry_until_done(hangs, on=Exception, what="test cancel", initial=0.01, maximum=0.01)
    )
    await entered.wait()
    task.cancel()
    await asyncio.wait({task}, timeout=2)  # a swallowed cancellation would retry on and on
    assert task.cancelled()
    await asyncio.sleep(0.05)
    assert started == 1


@pytest.mark.parametrize(("initial", "maximum"), [(0.0, 1.0), (-1.0, 1.0), (2.0, 1.0)])
async def test_bounds_must_make_sense(initial: float, maximum: float) -> None:
    operation = Flaky(0, OSError())
    with pytest.raises(ValueError, match="back-off"):
        await retry_until_done(operation, on=OSError, what="test", initial=initial, maximum=maximum)
    assert operation.started == []
