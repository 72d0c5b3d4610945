"""The audit API: authorization for every kind of caller, paging, and reports that count
what a real adapter was sent; a marker inside payloads never reaches the trail or a log."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import text, update

from splp.audit import AuditSink, AuditStore
from splp.audit.anchors import Anchoring
from splp.audit.bundle import check_bundle
from splp.audit.export import export
from splp.audit.keys import SigningKey, load_public_key
from splp.audit.provenance import Sent
from splp.bus import Client, ServiceDescriptor
from splp.directory_service.models import AccessEvent
from splp.directory_service.store import Store
from splp.errors import RemoteError
from splp.settings import Settings
from tests.audit.conftest import call_event, events, trusting
from tests.audit.test_sink import running, wait_count
from tests.directory.conftest import Api, walk

CALLERS = {
    "admin": 200,
    "dukcapil": 403,
    "dinsos": 403,
    "inspektorat": 200,
    None: 401,
}
ROUTES = [
    "/audit/events",
    "/audit/reports/usage",
    "/audit/reports/usage?format=csv",
    "/audit/reports/usage.svg",
    "/audit/reports/abuse",
    "/audit/head",
    "/audit/anchors",
    "/audit/keys",
    "/audit/verify",
    "/audit/reports/evaluasi?period=2026-11",
]


@pytest.fixture
async def audit_api(api: Api) -> AsyncIterator[Api]:
    """The directory app, which mounts the audit API; its audit store is the directory's
    database (the default), migrated by the directory's start-up migrations."""
    response = await api.get("/audit/events", headers=api.as_("admin"))
    assert response.status_code == 200, response.text
    yield api


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("caller", list(CALLERS))
async def test_authorization(audit_api: Api, route: str, caller: str | None) -> None:
    response = await audit_api.get(route, headers=audit_api.as_(caller))
    assert response.status_code == CALLERS[caller], response.text
    if response.status_code != 200:
        assert response.headers["content-type"] == "application/problem+json"


async def test_the_api_serves_everything_an_export_bundle_holds(audit_api: Api) -> None:
    store: AuditStore = audit_api.app.state.audit_store  # type: ignore[attr-defined]
    key = SigningKey.generate()
    anchoring = Anchoring(store, key, every=4)
    sent = events(10)
    await store.append([(e, None, Sent("dukcapil")) for e in sent[:6]])
    await anchoring.after(6)
    await store.append([(e, None, Sent("dinsos", "sender 'dinsos' may not ...")) for e in sent[6:]])
    await anchoring.after(4)
    day = datetime.now(UTC).date()
    bundle = await export(store, day, day, key)

    as_monitor = audit_api.as_("inspektorat")
    records = await audit_api.get("/audit/events", params={"limit": 1000}, headers=as_monitor)
    assert records.json()["records"] == bundle["records"]
    head = (await audit_api.get("/audit/head", headers=as_monitor)).json()
    assert head == bundle["head"] == {"seq": 10, "hash": bundle["records"][-1]["hash"]}
    anchors = (await audit_api.get("/audit/anchors", headers=as_monitor)).json()["anchors"]
    assert [a["seq"] for a in anchors] == [6, 10]
    assert [{k: v for k, v in a.items() if k != "id"} for a in anchors] == bundle["anchors"]
    keys = (await audit_api.get("/audit/keys", headers=as_monitor)).json()
    assert keys["keys"] == [{"key_id": key.key_id, "public_key": key.public_base64}]
    # an auditor rebuilds the bundle from the API alone (the signature: an anchor's)
    rebuilt = {
        "format": bundle["format"],
        "records": records.json()["records"],
        "head": head,
        "anchors": [{k: v for k, v in a.items() if k != "id"} for a in anchors],
        "signature": {
            "algorithm": "Ed25519",
            "key_id": anchors[-1]["key_id"],
            "public_key": anchors[-1]["public_key"],
            "value": anchors[-1]["signature"],
        },
    }
    assert check_bundle(rebuilt, load_public_key(key.public_base64)).ok


async def test_paging_and_filters(audit_api: Api) -> None:
    store: AuditStore = audit_api.app.state.audit_store  # type: ignore[attr-defined]
    await store.append([(e, None) for e in events(25)])
    await store.append([(e, None) for e in events(5, requester="dinkes", status=404)])
    seen, after = [], 0
    while True:
        response = await audit_api.get(
            "/audit/events",
            params={"after": after, "limit": 10},
            headers=audit_api.as_("inspektorat"),
        )
        body = response.json()
        if not body["records"]:
            break
        assert len(body["records"]) <= 10
        seen += [r["seq"] for r in body["records"]]
        after = body["next_after"]
    assert seen == list(range(1, 31))
    response = await audit_api.get(
        "/audit/events",
        params={"requester": "dinkes", "status": 404, "service": "dukcapil.penduduk.v1"},
        headers=audit_api.as_("admin"),
    )
    assert [r["event"]["requester"] for r in response.json()["records"]] == ["dinkes"] * 5


async def test_reports_count_what_a_real_adapter_was_sent(
    audit_api: Api,
    broker: Settings,
    sink_queue: str,
    make_adapter: Any,
    descriptor: ServiceDescriptor,
    penduduk: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    marker = "MARKER-7f3e9c1d-PAYLOAD"
    nik_marker = "7319284650173"  # digits, so that it fits a valid NIK
    await walk(audit_api, penduduk, "granted")  # one grant in force: dinsos on the service

    async def get_by_nik(payload: Any, request: Any) -> dict[str, Any]:
        if payload["nik"].endswith("9"):
            raise RuntimeError("the register is down")
        return {"nik": payload["nik"], "name": marker, "village": marker}

    # splp at DEBUG; aiormq and aio_pika as the CLI sets them even with --debug (WARNING):
    # at DEBUG aiormq logs whole frames, payloads included
    caplog.set_level(logging.DEBUG)
    for noisy in ("aiormq", "aio_pika"):
        caplog.set_level(logging.WARNING, logger=noisy)
    await make_adapter(descriptor, {"get-by-nik": get_by_nik})
    store: AuditStore = audit_api.app.state.audit_store  # type: ignore[attr-defined]
    sink = AuditSink(
        AuditStore(store.url), broker.broker_url, queue=sink_queue, settings=trusting(broker)
    )
    statuses = []
    async with running(sink), Client(broker) as client:
        for i in range(12):
            # 8 answered, 2 failing in the handler (500), 2 refused by the schema (400)
            body: dict[str, Any] = {"nik": f"{nik_marker}{i:02d}" + ("9" if i in (3, 7) else "1")}
            if i in (5, 10):
                body["note"] = marker
            try:
                await client.call(
                    descriptor.theme, str(descriptor.ref), "get-by-nik", body, timeout=10
                )
                statuses.append(200)
            except RemoteError as exc:
                statuses.append(exc.status)
        assert await wait_count(store, 12) == 12
    await sink.store.close()
    assert sorted(statuses) == [200] * 8 + [400] * 2 + [500] * 2

    today = datetime.now(UTC).date().isoformat()
    response = await audit_api.get(
        "/audit/reports/usage", params={"since": today}, headers=audit_api.as_("admin")
    )
    report = response.json()
    [service] = report["by_service"]
    assert service["service"] == "dukcapil.penduduk.v1" and service["day"] == today
    assert (service["calls"], service["errors"]) == (12, 4)
    assert service["error_rate"] == round(4 / 12, 4)
    assert service["p50_ms"] is not None and service["p95_ms"] >= service["p50_ms"]
    assert service["active_grants"] == 1
    requesters = {r["requester"]: r for r in report["by_requester"]}
    assert requesters[broker.username]["calls"] == 12
    csv_text = (
        await audit_api.get(
            "/audit/reports/usage",
            params={"since": today, "format": "csv"},
            headers=audit_api.as_("admin"),
        )
    ).text
    assert csv_text.splitlines()[0].startswith("by,day,name,calls,errors")
    svg = (await audit_api.get("/audit/reports/usage.svg", headers=audit_api.as_("admin"))).text
    assert svg.startswith("<svg") and ">12<" in svg

    async with store.engine.connect() as connection:
        stored = (await connection.execute(text("SELECT * FROM audit_records"))).all()
    assert len(stored) == 12
    assert {(row.sender, row.provenance) for row in stored} == {(broker.username, None)}
    for secret in (marker, nik_marker):
        assert all(secret not in str(row) for row in stored)
        assert all(secret not in record.getMessage() for record in caplog.records)
    assert caplog.records, "nothing was logged, so the log check proves nothing"


async def test_abuse_report_ranks_refused_calls(audit_api: Api) -> None:
    store: AuditStore = audit_api.app.state.audit_store  # type: ignore[attr-defined]
    await store.append([(e, None) for e in events(3, requester="od-a", status=403)])
    await store.append([(e, None) for e in events(5, requester="od-b", status=429)])
    await store.append([(e, None) for e in events(4, requester="od-c")])
    response = await audit_api.get("/audit/reports/abuse", headers=audit_api.as_("inspektorat"))
    ranked = response.json()["requesters"]
    assert [(r["requester"], r["denied"], r["throttled"]) for r in ranked] == [
        ("od-b", 0, 5),
        ("od-a", 3, 0),
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"after": 2**63},
        {"since": "2020-02-30"},
        {"since": "2026-02-01", "until": "2026-01-01"},
        {"until": "9999-12-31"},
        {"kind": "\x00"},
        {"requester": "a\x00b"},
        {"service": "dukcapil.penduduk.v99999999999999999999"},
    ],
)
async def test_impossible_queries_are_422_on_both_engines(
    audit_api: Api, params: dict[str, Any]
) -> None:
    response = await audit_api.get("/audit/events", params=params, headers=audit_api.as_("admin"))
    assert response.status_code == 422, response.text


async def test_a_report_period_is_bounded(audit_api: Api) -> None:
    wide = {"since": "2000-01-01", "until": "2026-01-01"}
    for route in ("/audit/reports/usage", "/audit/reports/abuse", "/audit/reports/usage.svg"):
        response = await audit_api.get(route, params=wide, headers=audit_api.as_("admin"))
        assert response.status_code == 422, route


async def test_active_grants_are_counted_per_day_from_the_access_history(
    audit_api: Api, penduduk: dict[str, Any]
) -> None:
    """A grant revoked two days ago counts on the days it was in force, not after."""
    kept = await walk(audit_api, penduduk, "granted")
    revoked = await walk(audit_api, penduduk, "revoked")
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    days = [(today - timedelta(days=n)) for n in (4, 3, 2, 1, 0)]
    store: Store = audit_api.app.state.store  # type: ignore[attr-defined]
    async with store.sessions() as session, session.begin():
        # both were granted four days ago; the second was revoked two days ago
        for request_id in (kept, revoked):
            await session.execute(
                update(AccessEvent)
                .where(AccessEvent.request_id == request_id, AccessEvent.step != "revoke")
                .values(at=days[0] - timedelta(hours=1))
            )
        await session.execute(
            update(AccessEvent)
            .where(AccessEvent.request_id == revoked, AccessEvent.step == "revoke")
            .values(at=days[2])
        )
    audit: AuditStore = audit_api.app.state.audit_store  # type: ignore[attr-defined]
    stamp = [d.isoformat(timespec="milliseconds").replace("+00:00", "Z") for d in days]
    await audit.append([(call_event(1, time=t), None) for t in stamp])
    response = await audit_api.get(
        "/audit/reports/usage",
        params={"since": days[0].date().isoformat()},
        headers=audit_api.as_("admin"),
    )
    assert response.status_code == 200, response.text
    by_day = {row["day"]: row for row in response.json()["by_service"]}
    assert [by_day[d.date().isoformat()]["active_grants"] for d in days] == [2, 2, 2, 1, 1]
    assert [by_day[d.date().isoformat()]["calls"] for d in days] == [1] * 5
    requesters = {row["day"]: row for row in response.json()["by_requester"]}
    assert requesters[days[3].date().isoformat()]["active_grants"] == 1


@pytest.mark.parametrize(
    "query",
    ["period=2026-13", "period=26", "period=2026-S3", "period=2026&format=doc", "format=pdf"],
)
async def test_a_bad_evaluation_period_or_format_is_a_422(audit_api: Api, query: str) -> None:
    response = await audit_api.get(
        f"/audit/reports/evaluasi?{query}", headers=audit_api.as_("admin")
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_an_evaluation_document_carries_its_sha256(audit_api: Api) -> None:
    import hashlib

    for format, media in (("html", "text/html"), ("pdf", "application/pdf")):
        response = await audit_api.get(
            f"/audit/reports/evaluasi?period=2026-S2&format={format}",
            headers=audit_api.as_("inspektorat"),
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith(media)
        digest = hashlib.sha256(response.content).hexdigest()
        assert response.headers["x-report-sha256"] == digest
        if format == "html":
            assert b"Laporan Evaluasi" in response.content


async def test_a_monitor_downloads_a_signed_bundle_that_verifies_offline(
    audit_api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store: AuditStore = audit_api.app.state.audit_store  # type: ignore[attr-defined]
    await store.append([(e, None, Sent("dukcapil")) for e in events(12)])
    day = datetime.now(UTC).date().isoformat()
    params = {"since": day, "until": day}
    as_monitor = audit_api.as_("inspektorat")

    # the key lives with the sink: a process that cannot read it cannot sign a bundle
    refused = await audit_api.get("/audit/export", params=params, headers=as_monitor)
    assert refused.status_code == 409, refused.text
    assert "SPLP_AUDIT_SIGNING_KEY_FILE" in refused.json()["detail"]

    key_file = tmp_path / "audit.key"
    SigningKey.generate().write(key_file)
    key = SigningKey.load(key_file)
    state = audit_api.app.state  # type: ignore[attr-defined]
    state.settings = state.settings.model_copy(update={"audit_signing_key_file": key_file})
    for caller, status in (("dukcapil", 403), ("dinsos", 403), (None, 401)):
        headers = audit_api.as_(caller)
        response = await audit_api.get("/audit/export", params=params, headers=headers)
        assert response.status_code == status, (caller, response.text)

    response = await audit_api.get("/audit/export", params=params, headers=as_monitor)
    assert response.status_code == 200, response.text
    assert f'filename="audit-{day}-{day}.json"' in response.headers["content-disposition"]
    bundle = response.json()
    events_page = await audit_api.get("/audit/events", params={"limit": 100}, headers=as_monitor)
    assert bundle["records"] == events_page.json()["records"]
    assert bundle["head"]["seq"] == 12
    public = load_public_key(key.public_base64)
    assert check_bundle(bundle, public).ok
    edited = response.content.replace(b'"get-by-nik"', b'"get-by-nok"', 1)  # one byte
    assert edited != response.content
    verdict = check_bundle(orjson.loads(edited), public)
    assert (verdict.ok, verdict.bad_seq) == (False, 1)

    bad = await audit_api.get("/audit/export", params={"since": day, "until": "2001-01-01"})
    assert bad.status_code in (401, 422)
    bad = await audit_api.get(
        "/audit/export", params={"since": day, "until": "2001-01-01"}, headers=as_monitor
    )
    assert bad.status_code == 422, bad.text
    empty = await audit_api.get(
        "/audit/export", params={"since": "2001-01-01", "until": "2001-01-02"}, headers=as_monitor
    )
    assert empty.status_code == 404 and "nothing to export" in empty.json()["detail"]
    monkeypatch.setattr("splp.audit.routes.EXPORT_LIMIT", 5)
    large = await audit_api.get("/audit/export", params=params, headers=as_monitor)
    assert large.status_code == 413 and "12 records, more than 5" in large.json()["detail"]
