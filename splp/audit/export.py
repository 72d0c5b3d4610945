"""``splp audit export``: the records of a period as a signed bundle (:mod:`splp.audit.bundle`).

The period picks records by their time (``at``, the event's ``time``); the bundle holds the
whole run of the chain from the first of them to the last, by ``seq``, so that its links
can be checked (an event that arrived late may bring in a record or two from outside the
period). With them go the anchors the sink signed inside that run.

>>> bundle = await export(store, date(2026, 11, 1), date(2026, 11, 30), key)  # doctest: +SKIP
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select

from splp.audit.bundle import FORMAT, sign_bundle
from splp.audit.keys import SigningKey
from splp.audit.query import as_dict
from splp.audit.records import AuditAnchor, AuditRecord
from splp.audit.store import AuditStore
from splp.errors import ConfigurationError

PAGE = 5000


class TooLarge(ConfigurationError):
    """The period's run of records is longer than the caller allows."""


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def export(
    store: AuditStore,
    first_day: date,
    last_day: date,
    key: SigningKey,
    max_records: int | None = None,
) -> dict[str, Any]:
    """The signed bundle of the records of the UTC days ``first_day`` to ``last_day``;
    :class:`TooLarge` when that run holds more than ``max_records`` records."""
    since = datetime.combine(first_day, time(), UTC)
    until = datetime.combine(last_day, time(), UTC) + timedelta(days=1)
    async with store.engine.connect() as connection:
        first, last = (
            await connection.execute(
                select(func.min(AuditRecord.seq), func.max(AuditRecord.seq)).where(
                    AuditRecord.at >= since, AuditRecord.at < until
                )
            )
        ).one()
        if first is None:
            raise ConfigurationError("no audit record in that period: nothing to export")
        if max_records is not None and last - first + 1 > max_records:
            raise TooLarge(
                f"the period holds {last - first + 1} records, more than {max_records}: "
                "take a shorter period, or splp audit export"
            )
        records: list[dict[str, Any]] = []
        after = first - 1
        while after < last:
            rows = (
                await connection.execute(
                    select(AuditRecord)
                    .where(AuditRecord.seq > after, AuditRecord.seq <= last)
                    .order_by(AuditRecord.seq)
                    .limit(PAGE)
                )
            ).all()
            if not rows:
                break
            records.extend(as_dict(row) for row in rows)
            after = rows[-1].seq
        anchors = (
            await connection.execute(
                select(AuditAnchor)
                .where(AuditAnchor.seq >= first, AuditAnchor.seq <= last)
                .where(AuditAnchor.key_id == key.key_id)
                .order_by(AuditAnchor.id)
            )
        ).all()
    bundle = {
        "format": FORMAT,
        "exported_at": _iso(datetime.now(UTC)),
        "from": first_day.isoformat(),
        "to": last_day.isoformat(),
        "records": records,
        "anchors": [
            {
                "seq": row.seq,
                "hash": row.hash,
                "signed_at": _iso(row.signed_at),
                "key_id": row.key_id,
                "public_key": row.public_key,
                "signature": row.signature,
            }
            for row in anchors
        ],
    }
    return sign_bundle(bundle, key)
