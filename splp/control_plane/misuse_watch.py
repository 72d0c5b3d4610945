"""The misuse watch of the directory process: the rules of :mod:`splp.audit.misuse`
evaluated over the audit store every ``SPLP_MISUSE_INTERVAL`` seconds.

Each new hit is kept in the directory (:mod:`splp.directory_service.supervision`) with its
``admin.misuse-hit`` audit event, in one transaction with the suspension of the grant
when the rule asks for it; after the commit the administrators are alerted, by a JSON
``POST`` to ``SPLP_MISUSE_WEBHOOK_URL`` and by e-mail (``SPLP_SMTP_URL``) to every active
administrator person. An alert that cannot be delivered is logged and counted, never
retried into a storm: the hit stays in the supervision report.
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from typing import Any

import httpx

from splp.audit.misuse import RULE_TITLES, Hit, Rule, detect
from splp.audit.store import AuditStore
from splp.directory_service.broker import BrokerReconciler
from splp.directory_service.events import DirectoryEvents
from splp.directory_service.notify import deliver, recipients
from splp.directory_service.store import Store
from splp.directory_service.supervision import HitIn, Raised, raise_hit
from splp.log import get_logger
from splp.retry import every
from splp.settings import Settings

log = get_logger("control-plane.misuse")


class MisuseWatch:
    """Raises, records and announces the hits of the misuse rules."""

    def __init__(
        self,
        rules: list[Rule],
        *,
        store: Store,
        audit_store: AuditStore,
        events: DirectoryEvents,
        settings: Settings,
        reconciler: BrokerReconciler | None = None,
    ) -> None:
        self.rules = rules
        self.store = store
        self.audit_store = audit_store
        self.events = events
        self.settings = settings
        self.reconciler = reconciler
        self.alerts_sent = 0
        self.alerts_failed = 0

    async def check(self, now: datetime | None = None) -> list[Raised]:
        """Evaluate the rules once; the hits raised now (not those raised before)."""
        raised: list[Raised] = []
        for hit in await detect(self.audit_store, self.rules, now):
            async with self.store.sessions() as session:
                done = await raise_hit(
                    session, self.events, _hit_in(hit), self.settings.broker_user_prefix
                )
                await session.commit()
            if done is not None:
                raised.append(done)
        if any(r.suspended for r in raised) and self.reconciler is not None:
            await self.reconciler.after_change()
        for done in raised:
            await self.alert(done)
        return raised

    async def run_forever(self) -> None:
        interval = self.settings.misuse_interval
        await every(interval, self.check, what="misuse rules", kind="misuse", logger=log)

    async def alert(self, raised: Raised) -> None:
        body = alert_body(raised)
        if self.settings.misuse_webhook_url is not None:
            url = self.settings.misuse_webhook_url.get_secret_value()
            try:
                async with httpx.AsyncClient(timeout=10) as client:
                    answer = await client.post(url, json=body)
                answer.raise_for_status()
                self.alerts_sent += 1
            except httpx.HTTPError as exc:
                self.alerts_failed += 1
                log.warning("misuse hit %s: webhook failed: %s", body["hit_id"], type(exc).__name__)
        if self.settings.smtp_url is not None:
            try:
                to = await recipients(self.store, "administrator", None)
                if to:
                    await deliver(alert_mail(body, to, self.settings), self.settings)
                    self.alerts_sent += 1
            except Exception as exc:  # a mail server's fault never stops the watch
                self.alerts_failed += 1
                log.warning("misuse hit %s: e-mail failed: %s", body["hit_id"], type(exc).__name__)


def _hit_in(hit: Hit) -> HitIn:
    return HitIn(
        hit.key,
        hit.rule,
        hit.requester,
        hit.since,
        hit.until,
        hit.service,
        hit.operation,
        hit.figures,
        hit.suspend,
    )


def alert_body(raised: Raised) -> dict[str, Any]:
    """The webhook's JSON: the hit's metadata, never a payload."""
    hit = raised.hit
    return {
        "kind": "splp.misuse-hit",
        "hit_id": hit["id"],
        "rule": hit["rule"],
        "title": RULE_TITLES.get(hit["rule"], hit["rule"]),
        "requester": hit["requester"],
        "service": hit["service"],
        "operation": hit["operation"],
        "window_start": hit["since"].isoformat(),
        "window_end": hit["until"].isoformat(),
        "figures": hit["figures"],
        "suspended_requests": hit["suspended"],
    }


def alert_mail(body: dict[str, Any], to: list[str], settings: Settings) -> EmailMessage:
    base = (settings.portal_url or settings.directory_url).rstrip("/")
    mail = EmailMessage()
    mail["From"] = settings.mail_from
    mail["To"] = ", ".join(to)
    mail["Subject"] = f"[SPLP] Dugaan penyalahgunaan #{body['hit_id']}: {body['title']}"
    figures = "\n".join(f"  {name}: {value}" for name, value in sorted(body["figures"].items()))
    suspended = ", ".join(f"#{n}" for n in body["suspended_requests"]) or "tidak ada"
    mail.set_content(
        f"Aturan {body['rule']} terpicu: {body['title']}.\n\n"
        f"Pemohon (pengguna broker): {body['requester']}\n"
        f"Layanan: {body['service'] or '-'}\n"
        f"Operasi: {body['operation'] or '-'}\n"
        f"Rentang: {body['window_start']} s.d. {body['window_end']}\n"
        f"Angka:\n{figures}\n"
        f"Akses yang ditangguhkan menunggu tinjauan: {suspended}\n\n"
        f'Catat tindak lanjut: splp supervision note {body["hit_id"]} --text "..."\n'
        f"Laporan pengawasan: {base}/supervision/report\n"
    )
    return mail
