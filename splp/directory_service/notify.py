"""Tell whoever must act next that a step of the access procedure waits for them (issue
15: "nobody is told that a step waits for them").

After each step, the people who act next get an e-mail in Bahasa Indonesia with a link to
the request in the portal: a new request goes to the administrators, an approved one to
the publisher's people, and every decision to the requester's people. The message names
the request, the service and the parties, never the reason text (a person may have
written personal data into it) and never a token.

Mail goes out by SMTP (``SPLP_SMTP_URL``, e.g. ``smtp://mail.kab.go.id:587``, with
``user:password@`` when the server asks for a login; ``smtps://`` for implicit TLS;
STARTTLS is used when the server offers it) in the background: a mail server that is down
never fails or slows the step, it is logged (without the addresses) and counted
(:attr:`Notifier.failed`). Without ``SPLP_SMTP_URL`` nothing is sent;
the portal's home page still lists what waits for each person.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from sqlalchemy import select

from splp.directory_service.models import Party, User
from splp.directory_service.store import Store
from splp.log import get_logger
from splp.settings import Settings

log = get_logger("directory.notify")

NEXT = {
    # step -> (the role whose people act next or are told, whose party, subject, sentence)
    "request": (
        "administrator",
        None,
        "menunggu persetujuan",
        "Permohonan akses baru menunggu persetujuan atau penolakan administrator.",
    ),
    "approve": (
        "publisher",
        "publisher",
        "menunggu pemberian akses",
        "Permohonan akses telah disetujui administrator dan menunggu keputusan "
        "penerbit: berikan akses atau tolak pemberiannya.",
    ),
    "reject": ("requester", "requester", "ditolak", "Permohonan akses Anda ditolak administrator."),
    "grant": (
        "requester",
        "requester",
        "akses diberikan",
        "Akses telah diberikan oleh penerbit layanan.",
    ),
    "decline": (
        "requester",
        "requester",
        "akses tidak diberikan",
        "Penerbit layanan tidak memberikan akses.",
    ),
    "suspend": ("requester", "requester", "akses ditangguhkan", "Akses Anda ditangguhkan."),
    "resume": ("requester", "requester", "akses dipulihkan", "Akses Anda dipulihkan."),
    "revoke": ("requester", "requester", "akses dicabut", "Akses Anda dicabut."),
}


@dataclass(frozen=True, slots=True)
class Step:
    """What a notification needs to know of a step just committed."""

    step: str
    request_id: int
    service: str
    requester: str
    publisher: str


async def recipients(store: Store, role: str, party: str | None) -> list[str]:
    """The e-mail addresses of the active people holding ``role`` (of ``party``, or of any
    party that holds the role when ``party`` is ``None``)."""
    async with store.session() as session:
        rows = await session.execute(
            select(User.email, User.roles, Party.name, Party.roles)
            .join(Party, Party.id == User.party_id)
            .where(User.disabled_at.is_(None), User.password_hash.is_not(None))
        )
        return sorted(
            email
            for email, user_roles, party_name, party_roles in rows.all()
            if role in user_roles and role in party_roles and party in (None, party_name)
        )


def message(step: Step, to: list[str], settings: Settings) -> EmailMessage | None:
    if step.step not in NEXT:
        return None
    _role, _whose, subject, sentence = NEXT[step.step]
    base = (settings.portal_url or settings.directory_url).rstrip("/")
    mail = EmailMessage()
    mail["From"] = settings.mail_from
    mail["To"] = ", ".join(to)
    mail["Subject"] = f"[SPLP] Permohonan akses #{step.request_id}: {subject}"
    mail.set_content(
        f"{sentence}\n\n"
        f"Nomor permohonan: {step.request_id}\n"
        f"Layanan: {step.service}\n"
        f"Pemohon: {step.requester}\n"
        f"Penerbit: {step.publisher}\n\n"
        f"Lihat dan tindak lanjuti di Aplikasi SPLP:\n{base}/permohonan/{step.request_id}\n\n"
        "Pesan ini dikirim otomatis oleh SPLP; alasan dan data lain hanya dapat dilihat di "
        "aplikasi setelah masuk.\n"
    )
    return mail


def recertify_message(
    step: Step, expires_at: str, to: list[str], settings: Settings
) -> EmailMessage:
    """The notice that a grant to personal data ends soon and is to be re-certified."""
    base = (settings.portal_url or settings.directory_url).rstrip("/")
    day = expires_at[:10]
    mail = EmailMessage()
    mail["From"] = settings.mail_from
    mail["To"] = ", ".join(to)
    mail["Subject"] = f"[SPLP] Hak akses #{step.request_id} berakhir {day}: sertifikasi ulang"
    mail.set_content(
        "Hak akses berikut akan berakhir dan perlu disertifikasi ulang: pemohon mengajukan "
        "permohonan baru bila masih diperlukan, penerbit dan administrator menilainya kembali "
        "(UU 27/2022).\n\n"
        f"Nomor permohonan: {step.request_id}\n"
        f"Layanan: {step.service}\n"
        f"Pemohon: {step.requester}\n"
        f"Penerbit: {step.publisher}\n"
        f"Berakhir: {expires_at}\n\n"
        f"Lihat di Aplikasi SPLP:\n{base}/permohonan/{step.request_id}\n"
    )
    return mail


class Notifier:
    """Sends the notifications of committed steps in the background."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent = 0
        self.failed = 0

    @property
    def enabled(self) -> bool:
        return self._settings.smtp_url is not None

    def after(self, step: Step) -> None:
        """Notify about ``step`` (never blocks, never fails the request)."""
        if not self.enabled or step.step not in NEXT:
            return
        task = asyncio.create_task(self._send(step), name="splp-notify")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, step: Step) -> None:
        role, whose, _subject, _sentence = NEXT[step.step]
        party = {"publisher": step.publisher, "requester": step.requester}.get(whose or "")
        try:
            to = await recipients(self._store, role, party)
            mail = message(step, to, self._settings) if to else None
            if mail is None:
                return
            await deliver(mail, self._settings)
            self.sent += 1
        except Exception as exc:  # a mail server's fault never reaches the step
            self.failed += 1
            log.warning(
                "notification of request %s (%s) not sent: %s",
                step.request_id,
                step.step,
                type(exc).__name__,
            )

    def recertify(self, step: Step, expires_at: str) -> None:
        """Tell the holder's and the publisher's people that a grant ends soon and is to be
        re-certified (UU 27/2022; never blocks, never fails the request)."""
        if not self.enabled:
            return
        task = asyncio.create_task(self._recertify(step, expires_at), name="splp-notify")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _recertify(self, step: Step, expires_at: str) -> None:
        try:
            to = await recipients(self._store, "requester", step.requester) + await recipients(
                self._store, "publisher", step.publisher
            )
            if not to:
                return
            await deliver(recertify_message(step, expires_at, to, self._settings), self._settings)
            self.sent += 1
        except Exception as exc:  # a mail server's fault never reaches the request
            self.failed += 1
            log.warning(
                "re-certification notice of request %s not sent: %s",
                step.request_id,
                type(exc).__name__,
            )

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait (briefly) for the notifications still being sent."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)


async def deliver(mail: EmailMessage, settings: Settings) -> None:
    import aiosmtplib

    assert settings.smtp_url is not None
    url = urlsplit(settings.smtp_url.get_secret_value())
    implicit = url.scheme == "smtps"
    await aiosmtplib.send(
        mail,
        hostname=url.hostname or "127.0.0.1",
        port=url.port or (465 if implicit else 25),
        username=unquote(url.username) if url.username else None,
        password=unquote(url.password) if url.password else None,
        use_tls=implicit,
        start_tls=None if not implicit else False,
        timeout=10,
    )
