"""Documents attached to access requests: a PDF of the requester's, while submitted; seen
and downloaded by whoever may see the request; everything else refused clearly."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from splp.control_plane import close_app, create_app
from splp.directory_service import Store
from tests.directory.conftest import Api, directory_settings, walk

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
LIMIT = 4096


@pytest.fixture
async def docs(store: Store, parties: dict[str, str]) -> AsyncIterator[Api]:
    app = create_app(directory_settings(store.url, attachment_max_bytes=LIMIT), store=store)
    import httpx

    async with Api(transport=httpx.ASGITransport(app), base_url="http://directory") as client:
        client.tokens = parties
        client.app = app  # type: ignore[attr-defined]
        yield client
    await close_app(app)


async def upload(
    api: Api,
    rid: int,
    data: bytes,
    party: str = "dinsos",
    kind: str = "application/pdf",
    name: str = "surat.pdf",
) -> Any:
    return await api.post(
        f"/access-requests/{rid}/attachments",
        params={"filename": name},
        content=data,
        headers={**api.as_(party), "Content-Type": kind},
    )


async def test_a_requester_attaches_the_signed_letter(docs: Api, penduduk: dict[str, Any]) -> None:
    rid = await walk(docs, penduduk, "submitted")
    answer = await upload(docs, rid, PDF, name="../../Surat <Permohonan>.PDF")
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["filename"] == "Surat _Permohonan_.pdf"
    assert created["sha256"] == hashlib.sha256(PDF).hexdigest() and created["size"] == len(PDF)
    for party in ("admin", "dukcapil", "dinsos", "inspektorat"):
        listed = await docs.get(f"/access-requests/{rid}/attachments", headers=docs.as_(party))
        assert [d["id"] for d in listed.json()] == [created["id"]], party
    got = await docs.get(
        f"/access-requests/{rid}/attachments/{created['id']}", headers=docs.as_("admin")
    )
    assert got.content == PDF
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert got.headers["x-content-type-options"] == "nosniff"
    outbox = await docs.app.state.events.pending()  # type: ignore[attr-defined]
    events = [e for e in outbox if e["kind"] == "access.attachment"]
    assert events and events[-1]["sha256"] == created["sha256"]
    assert "Surat" not in str(events[-1]), "the document's name is not an audit field"


async def test_bad_documents_are_refused_clearly(docs: Api, penduduk: dict[str, Any]) -> None:
    rid = await walk(docs, penduduk, "submitted")
    cases = [
        (dict(data=PDF, kind="text/plain"), 415, "application/pdf"),
        (dict(data=b"MZ\x90\x00 not a pdf %%EOF"), 422, "not a PDF"),
        (dict(data=b"%PDF-1.4 truncated"), 422, "not a PDF"),
        (dict(data=PDF + b"x" * LIMIT), 413, "limit"),
        (dict(data=PDF, party="bapenda"), 403, ""),
        (dict(data=PDF, party="admin"), 403, ""),
    ]
    for kwargs, status, words in cases:
        answer = await upload(docs, rid, **kwargs)  # type: ignore[arg-type]
        assert answer.status_code == status, (kwargs.get("kind"), answer.text)
        assert words in answer.text
    assert (
        await docs.get(f"/access-requests/{rid}/attachments", headers=docs.as_("admin"))
    ).json() == []
    too_big = await docs.post(
        f"/access-requests/{rid}/attachments",
        content=b"%PDF-" + b"0" * (LIMIT + 70 * 1024),
        headers={**docs.as_("dinsos"), "Content-Type": "application/pdf"},
    )
    assert too_big.status_code == 413, "the body limit of the path stops it before the route"
    other = await walk(docs, penduduk, "approved")
    late = await upload(docs, other, PDF)
    assert late.status_code == 409 and "submitted" in late.json()["detail"]
    for _ in range(5):
        assert (await upload(docs, rid, PDF)).status_code == 201
    sixth = await upload(docs, rid, PDF)
    assert sixth.status_code == 409
    missing = await docs.get(
        f"/access-requests/{rid}/attachments/999999", headers=docs.as_("admin")
    )
    assert missing.status_code == 404
