"""What the demo prints: replies with the NIK masked, the audit trail, the usage report.

Demo output ends up in terminals and CI logs, so a reply's NIK is masked; the audit trail
holds no payloads to begin with.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from splp.audit.tail import line
from splp.demo.phrases import Phrases
from splp.settings import Settings

USAGE_COLUMNS = ("calls", "errors", "error_rate", "p50_ms", "p95_ms", "denied", "throttled")


def mask(resident: Any) -> str:
    """The reply as JSON with all but the first six digits of its NIK masked.

    >>> mask({"nik": "1508010101900001", "name": "Siti Aminah"})
    '{"nik": "150801**********", "name": "Siti Aminah"}'
    """
    shown = dict(resident)
    nik = str(shown.get("nik", ""))
    shown["nik"] = nik[:6] + "*" * max(0, len(nik) - 6)
    return json.dumps(shown, ensure_ascii=False)


def ours(event: dict[str, Any], settings: Settings) -> bool:
    """Whether a stored event belongs to the demo: the broker's security events cover
    every vhost and user of the broker, the demo shows those of its own users only."""
    if not str(event.get("kind", "")).startswith("broker."):
        return True
    if event.get("source") == "directory":  # the reconciler's own events
        return True
    user = str(event.get("user") or "")
    return user.startswith(settings.broker_user_prefix) and event.get("vhost") in (
        None,
        settings.vhost,
    )


def trail_lines(
    records: list[dict[str, Any]], settings: Settings, say: Phrases | None = None
) -> Iterator[str]:
    """``[audit]`` lines, as ``splp audit tail`` prints them."""
    say = say or Phrases()
    shown = [r for r in records if ours(r["event"], settings)]
    yield say("say.trail", count=len(shown))
    for record in shown:
        event = record["event"]
        if str(event.get("kind", "")).startswith("broker.") and event.get("user"):
            # a broker event: whom it concerns, and who did it
            text = say(
                "say.broker-event", time=event.get("time"), kind=event["kind"], user=event["user"]
            )
            if event.get("actor") not in (None, event["user"]):
                text += say("say.broker-actor", actor=event["actor"])
        else:
            text = line(event)
        yield say("say.record", seq=record["seq"], text=text)


def usage_lines(report: dict[str, Any], say: Phrases | None = None) -> Iterator[str]:
    """``[usage]`` lines: one per service and one per requester for each day."""
    say = say or Phrases()
    yield say("say.usage-period", start=report["from"], end=report["to"])
    for by in ("service", "requester"):
        for row in report[f"by_{by}"]:
            figures = " ".join(f"{c}={row[c]}" for c in USAGE_COLUMNS)
            yield say(
                "say.usage-row",
                day=row["day"],
                by=say(f"usage.by-{by}"),
                name=row[by],
                figures=figures,
                grants=row["active_grants"],
            )
