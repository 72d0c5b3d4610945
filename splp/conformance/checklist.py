"""The outcome of a conformance run: one :class:`Check` per MUST of the wire protocol.

Each check names its rule in ``docs/wire-protocol.md`` §17 (``S-…`` for servers, ``R-…``
for requesters). :meth:`Checklist.check` runs one probe and records a failure, with what
was seen, instead of stopping the run: a client author wants the whole list at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from splp.log import get_logger

log = get_logger("conformance")

PROBE_TIMEOUT = 20.0


class Failed(Exception):
    """A probe saw something the spec forbids; the message says what."""


def expect(condition: bool, detail: str) -> None:
    """Fail the running check with ``detail`` unless ``condition`` holds."""
    if not condition:
        raise Failed(detail)


@dataclass(frozen=True, slots=True)
class Check:
    """One rule: ``passed`` is None when the kit could not observe it (``detail`` says why)."""

    rule: str
    title: str
    passed: bool | None
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Checklist:
    """The checks of one run, in the order they ran."""

    mode: str
    checks: list[Check] = field(default_factory=list)

    async def check(self, rule: str, title: str, probe: Callable[[], Awaitable[object]]) -> bool:
        """Run ``probe``; it passes unless it raises (:class:`Failed` or anything else)."""
        try:
            await asyncio.wait_for(probe(), PROBE_TIMEOUT)
        except Failed as failed:
            self.checks.append(Check(rule, title, False, str(failed)))
            return False
        except TimeoutError:
            self.checks.append(Check(rule, title, False, f"no outcome in {PROBE_TIMEOUT:.0f} s"))
            return False
        except Exception as exc:  # a probe that breaks is a failed check, not a crashed kit
            log.debug("probe %s raised", rule, exc_info=True)
            self.checks.append(Check(rule, title, False, f"the probe failed: {exc!r}"))
            return False
        self.checks.append(Check(rule, title, True))
        return True

    def not_checked(self, rule: str, title: str, why: str) -> None:
        self.checks.append(Check(rule, title, None, why))

    @property
    def passed(self) -> bool:
        return all(check.passed is not False for check in self.checks)

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "passed": sum(1 for c in self.checks if c.passed),
            "failed": sum(1 for c in self.checks if c.passed is False),
            "not_checked": sum(1 for c in self.checks if c.passed is None),
            "checks": [check.as_json() for check in self.checks],
        }
