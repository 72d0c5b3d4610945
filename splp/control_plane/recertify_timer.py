"""The re-certification timer of the directory process: every ``SPLP_RECERTIFY_INTERVAL``
seconds, the holders and publishers of the grants that end within ``SPLP_RECERTIFY_DAYS``
are told to re-certify them (:func:`splp.directory_service.recertification.notify_expiring`:
an ``access.recertify`` audit event and an e-mail, once per grant and expiry date).

The first pass runs when the process starts, so a restart never postpones the notices by
a whole interval; a pass that finds nothing new sends nothing.
"""

from __future__ import annotations

from typing import Any

from splp.directory_service.events import DirectoryEvents
from splp.directory_service.notify import Notifier
from splp.directory_service.recertification import notify_expiring
from splp.directory_service.store import Store
from splp.log import get_logger
from splp.retry import every
from splp.settings import Settings

log = get_logger("control-plane.recertify")

ACTOR = "splp-recertify"
"""The actor of the timer's ``access.recertify`` audit events."""


class RecertifyTimer:
    """Announces the grants to re-certify, one pass every ``settings.recertify_interval``."""

    def __init__(
        self, store: Store, events: DirectoryEvents, notifier: Notifier, settings: Settings
    ) -> None:
        self.store = store
        self.events = events
        self.notifier = notifier
        self.settings = settings
        self.passes = 0
        """The passes completed, for tests and the curious."""

    async def check(self) -> list[dict[str, Any]]:
        """One pass: the grants announced now (none when all were announced before)."""
        async with self.store.sessions() as session:
            announced = await notify_expiring(
                session,
                self.events,
                self.notifier,
                actor=ACTOR,
                within_days=self.settings.recertify_days,
            )
        self.passes += 1
        if announced:
            log.info("re-certification: %d grant(s) announced", len(announced))
        return announced

    async def run_forever(self) -> None:
        await every(
            self.settings.recertify_interval,
            self.check,
            what="re-certification notices",
            kind="recertify",
            logger=log,
        )
