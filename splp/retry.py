"""Waiting out an outage: retry with jittered exponential back-off until it works.

Every SPLP loop that waits for a broker or a store to come back (a reconnect, a batch
of audit events to commit) goes through :func:`retry_until_done`, built on tenacity.
It never gives up: these loops belong to long-lived processes, whose only way to stop
is to be cancelled. Cancellation is never retried: :class:`asyncio.CancelledError`
(a ``BaseException``) cannot be named in ``on``, so it goes straight through, whether
it strikes during an attempt or during a wait.

Each wait is drawn at random between ``initial`` and the exponential bound
``initial * 2 ** (attempt - 1)``, capped at ``maximum`` (the "full jitter" of tenacity's
:class:`~tenacity.wait_random_exponential`), so processes that lost the same broker do
not all come back in the same instant. Each failed attempt is logged as a warning
naming what failed, the attempt and the wait. The message of an SPLP error or an
``OSError`` is logged, for they are written for operators; of any other exception only
its type, since a driver's message may quote a statement and its parameters (payloads).

>>> await retry_until_done(
...     store.append_batch, on=(SQLAlchemyError, OSError), what="audit store write",
...     initial=0.2, maximum=10.0)  # doctest: +SKIP

Every background loop of a long-lived process (a reconnect, a timer, a refresh, a
writer) runs under :func:`keep_running`: whatever it raises, it is logged, counted in
``splp_background_restarts_total`` and started again after a back-off, so no error ends it
silently. Only cancellation, or the loop returning, ends it.

>>> await keep_running(refresh_forever, what="grants refresh")  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from prometheus_client import Counter
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type
from tenacity import wait_random_exponential as full_jitter

from splp.errors import SplpError
from splp.log import get_logger

log = get_logger("retry")

T = TypeVar("T")

RESTARTS = Counter(
    "splp_background_restarts",
    "Restarts of a background loop after an error, by loop.",
    ("loop",),
    registry=None,  # every component's registry shows it (splp.metrics.Metrics)
)


async def retry_until_done(
    operation: Callable[[], Awaitable[T]],
    *,
    on: type[Exception] | tuple[type[Exception], ...],
    what: str,
    initial: float,
    maximum: float,
    logger: logging.Logger = log,
) -> T:
    """Await ``operation()`` until it returns, retrying after each exception in ``on``.

    Any other exception, and cancellation, propagates at once. ``what`` names the
    operation in the log (e.g. ``"reconnect to 127.0.0.1:5672/splp"``): no secrets.
    """
    if not 0 < initial <= maximum:
        raise ValueError(f"back-off needs 0 < initial <= maximum, not {initial}, {maximum}")

    async def attempt() -> T:
        return await operation()

    retrying = AsyncRetrying(
        retry=retry_if_exception_type(on),
        wait=full_jitter(multiplier=initial, min=initial, max=maximum),
        before_sleep=_log_failure(what, logger),
    )
    result: T = await retrying(attempt)
    return result


def _log_failure(what: str, logger: logging.Logger) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        logger.warning(
            "%s failed (attempt %d), retrying in %.1fs: %s",
            what,
            state.attempt_number,
            wait,
            _summary(error),
        )

    return before_sleep


def _summary(error: BaseException | None) -> str:
    """``error`` for a log line: its message when SPLP or the OS wrote it, else its type."""
    if error is None:
        return "no error"
    if isinstance(error, SplpError | OSError):
        return f"{type(error).__name__}: {error}"
    return type(error).__name__


async def keep_running(
    loop: Callable[[], Awaitable[object]],
    *,
    what: str,
    kind: str | None = None,
    initial: float = 1.0,
    maximum: float = 30.0,
    logger: logging.Logger = log,
) -> None:
    """Await ``loop()`` until it returns or is cancelled, starting it again after any error.

    Each error is logged as an error (with the same care as :func:`retry_until_done`: no
    driver messages), counted in ``splp_background_restarts_total{loop=kind}``, and
    followed by a jittered wait that doubles from ``initial`` up to ``maximum``; a run that
    lasted longer than ``maximum`` starts the back-off again from ``initial``. ``what``
    names the loop in the log (no secrets); ``kind`` (default ``what``) in the metric,
    where no party may be named. Hand-written rather than tenacity's, whose attempt count
    never falls back after a healthy run.
    """
    if not 0 < initial <= maximum:
        raise ValueError(f"back-off needs 0 < initial <= maximum, not {initial}, {maximum}")
    clock = asyncio.get_running_loop()
    failures = 0
    while True:
        started = clock.time()
        try:
            await loop()
            return
        except Exception as exc:
            failures = 1 if clock.time() - started > maximum else failures + 1
            wait = random.uniform(initial, min(maximum, initial * 2 ** (failures - 1)))
            RESTARTS.labels(kind or what).inc()
            logger.error(
                "%s stopped on an error (%d in a row), restarting in %.1fs: %s",
                what,
                failures,
                wait,
                _summary(exc),
            )
        await asyncio.sleep(wait)


async def every(
    interval: float,
    step: Callable[[], Awaitable[object]],
    *,
    what: str,
    kind: str | None = None,
    initial: float = 1.0,
    maximum: float = 30.0,
    logger: logging.Logger = log,
) -> None:
    """Await ``step()`` every ``interval`` seconds (from the end of one run to the start of
    the next) until cancelled, under :func:`keep_running` (``initial`` and ``maximum`` are
    its back-off): an error is logged and counted, and the timer goes on.
    """

    async def timer() -> None:
        while True:
            await step()
            await asyncio.sleep(interval)

    await keep_running(
        timer, what=what, kind=kind, initial=initial, maximum=maximum, logger=logger
    )
