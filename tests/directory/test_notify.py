"""Notifications: the people who act next get an e-mail at each step of the procedure, by
SMTP, received here by a real SMTP server on the loopback (aiosmtpd)."""

from __future__ import annotations

import asyncio
import email
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from email.policy import default
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from splp.control_plane import close_app, create_app
from splp.directory_service import Store
from splp.http_server import free_port
from tests.data_protection import NOTE, STATEMENT, grant_terms
from tests.directory.conftest import PARTIES, directory_settings

PASSWORD = "kata sandi yang cukup panjang"
PEOPLE = {
    "admin": "admin@kominfo.go.id",
    "dukcapil": "penerbit@dukcapil.go.id",
    "dinsos": "pemohon@dinsos.go.id",
    "bapenda": "penerbit@bapenda.go.id",
}


class Inbox:
    def __init__(self) -> None:
        self.mails: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=default)
        assert isinstance(parsed, EmailMessage)
        self.mails.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"

    async def wait_for(self, count: int, timeout: float = 10) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.mails) < count:
            assert asyncio.get_running_loop().time() < deadline, self.mails
            await asyncio.sleep(0.05)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
async def api(
    store: Store, parties: dict[str, str], smtp: tuple[Inbox, int]
) -> AsyncIterator[httpx.AsyncClient]:
    settings = directory_settings(
        store.url,
        smtp_url=f"smtp://127.0.0.1:{smtp[1]}",
        mail_from="SPLP Kab. Contoh <splp@kab.go.id>",
        portal_url="https://splp.kab.go.id",
    )
    app = create_app(settings, store=store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="https://d") as c:
        c.headers["Authorization"] = f"Bearer {parties['admin']}"
        for party, address in PEOPLE.items():
            body = {"party": party, "email": address, "name": party, "roles": PARTIES[party]}
            created = (await c.post("/users", json=body)).json()
            answer = await c.post(
                "/auth/set-password", json={"token": created["setup_token"], "password": PASSWORD}
            )
            assert answer.status_code == 204
        c.app = app  # type: ignore[attr-defined]
        yield c
    await close_app(app)


async def test_each_step_tells_whoever_acts_next(
    api: httpx.AsyncClient,
    parties: dict[str, str],
    smtp: tuple[Inbox, int],
    penduduk: dict[str, Any],
) -> None:
    inbox, _port = smtp
    as_ = {name: {"Authorization": f"Bearer {token}"} for name, token in parties.items()}
    assert (await api.post("/services", json=penduduk, headers=as_["dukcapil"])).status_code == 201
    secret_reason = "NIK 3201234567890001 milik Budi"
    submitted = await api.post(
        "/access-requests",
        json={"service": "dukcapil.penduduk.v1", "reason": secret_reason, **STATEMENT},
        headers=as_["dinsos"],
    )
    rid = submitted.json()["id"]
    await inbox.wait_for(1)
    to, mail = inbox.mails[0]
    assert to == [PEOPLE["admin"]]
    assert mail["Subject"] == f"[SPLP] Permohonan akses #{rid}: menunggu persetujuan"
    assert mail["From"].addresses[0].addr_spec == "splp@kab.go.id"
    body = mail.get_content()
    assert f"https://splp.kab.go.id/permohonan/{rid}" in body
    assert "dukcapil.penduduk.v1" in body and "dinsos" in body

    await api.post(f"/access-requests/{rid}/approve", json={"reason": secret_reason, **NOTE})
    await inbox.wait_for(2)
    to, mail = inbox.mails[1]
    assert to == [PEOPLE["dukcapil"]], "only the owning publisher's people, not bapenda's"
    assert "menunggu pemberian akses" in mail["Subject"]

    await api.post(
        f"/access-requests/{rid}/grant",
        json={"reason": secret_reason, **grant_terms()},
        headers=as_["dukcapil"],
    )
    await inbox.wait_for(3)
    to, mail = inbox.mails[2]
    assert to == [PEOPLE["dinsos"]] and "akses diberikan" in mail["Subject"]
    for _to, each in inbox.mails:
        text = each.as_string()
        assert "3201234567890001" not in text and "Budi" not in text, "no reason text in mail"


async def test_a_mail_server_that_is_down_never_fails_a_step(
    store: Store, parties: dict[str, str], penduduk: dict[str, Any]
) -> None:
    settings = directory_settings(store.url, smtp_url=f"smtp://127.0.0.1:{free_port()}")
    app = create_app(settings, store=store)
    headers = {"Authorization": f"Bearer {parties['admin']}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="https://d") as c:
        body = {
            "party": "admin",
            "email": "a@kominfo.go.id",
            "name": "A",
            "roles": ["administrator"],
        }
        created = (await c.post("/users", json=body, headers=headers)).json()
        await c.post(
            "/auth/set-password", json={"token": created["setup_token"], "password": PASSWORD}
        )
        dukcapil = {"Authorization": f"Bearer {parties['dukcapil']}"}
        assert (await c.post("/services", json=penduduk, headers=dukcapil)).status_code == 201
        answer = await c.post(
            "/access-requests",
            json={"service": "dukcapil.penduduk.v1", "reason": "bansos", **STATEMENT},
            headers={"Authorization": f"Bearer {parties['dinsos']}"},
        )
        assert answer.status_code == 201
        notifier = app.state.notifier
        await notifier.drain()
        assert (notifier.sent, notifier.failed) == (0, 1)
    await close_app(app)


async def test_grants_that_end_soon_are_announced_to_the_holder_and_the_publisher(
    api: httpx.AsyncClient,
    parties: dict[str, str],
    smtp: tuple[Inbox, int],
    penduduk: dict[str, Any],
) -> None:
    """Re-certification (UU 27/2022): the holder's and the publisher's people are told by
    e-mail that a grant to personal data ends within the window."""
    inbox, _port = smtp
    as_ = {name: {"Authorization": f"Bearer {token}"} for name, token in parties.items()}
    assert (await api.post("/services", json=penduduk, headers=as_["dukcapil"])).status_code == 201
    made = await api.post(
        "/access-requests",
        json={"service": "dukcapil.penduduk.v1", "reason": "bansos", **STATEMENT},
        headers=as_["dinsos"],
    )
    rid = made.json()["id"]
    await api.post(f"/access-requests/{rid}/approve", json={"reason": "ok", **NOTE})
    granted = await api.post(
        f"/access-requests/{rid}/grant",
        json={"reason": "ok", **grant_terms(days=10)},
        headers=as_["dukcapil"],
    )
    assert granted.status_code == 200, granted.text
    await inbox.wait_for(3)  # the three steps' notices
    told = await api.post("/access-grants/expiring/notify")
    assert [g["request_id"] for g in told.json()] == [rid]
    await inbox.wait_for(4)
    to, mail = inbox.mails[3]
    assert sorted(to) == sorted([PEOPLE["dinsos"], PEOPLE["dukcapil"]])
    assert mail["Subject"].startswith(f"[SPLP] Hak akses #{rid} berakhir ")
    assert "sertifikasi ulang" in mail["Subject"]
    assert f"https://splp.kab.go.id/permohonan/{rid}" in mail.get_content()
    again = await api.post("/access-grants/expiring/notify")
    assert again.status_code == 200 and again.json() == [], "told once per expiry date"
    await api.app.state.notifier.drain()  # type: ignore[attr-defined]
    assert len(inbox.mails) == 4
