"""Independent verification: RFC 8785 hashes, keys, signed anchors, and export bundles that
``splp audit verify --file`` checks with no database; a one-byte edit is named."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
import rfc8785
from click.testing import Result
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select, update
from typer.testing import CliRunner

from splp.audit import AuditRecord, AuditSink, AuditStore, verify
from splp.audit.anchors import Anchoring
from splp.audit.bundle import check_bundle
from splp.audit.chain import GENESIS, record_hash
from splp.audit.keys import SigningKey, load_public_key
from splp.audit.provenance import Sent
from splp.audit.records import AuditAnchor, copied_columns
from splp.audit.store import MIGRATIONS
from splp.cli import app
from splp.settings import Settings
from tests.audit.conftest import events, publish
from tests.audit.test_sink import running, wait_count
from tests.databases import DATABASE_ENGINES, throwaway_database

ROOT = Path(__file__).resolve().parents[2]


async def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    runner = CliRunner()
    return await asyncio.to_thread(lambda: runner.invoke(app, list(args), env=env or {}))


def offline_verify(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``splp audit verify`` in a fresh process with no SPLP setting, in an empty folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPLP_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "splp", "audit", "verify", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_record_hash_is_sha256_of_the_jcs_record() -> None:
    """What docs/audit.md specifies, recomputed here with the rfc8785 package alone."""
    event = {"id": "a" * 32, "kind": "response", "duration_ms": 12.0, "requester": "dinsos é"}
    record = {
        "event": event,
        "flag": None,
        "prev_hash": GENESIS,
        "provenance": None,
        "sender": "dukcapil",
        "seq": 1,
    }
    canonical = rfc8785.dumps(record)
    assert b'"duration_ms":12,' in canonical and "dinsos é".encode() in canonical
    expected = hashlib.sha256(canonical).hexdigest()
    assert record_hash(event, 1, GENESIS, None, "dukcapil") == expected


async def fill(store: AuditStore) -> list[dict[str, Any]]:
    """20 events: 15 from their publisher, 3 with a sender that may not speak for them,
    2 written by the audit process itself."""
    sent = events(20)
    entries: list[Any] = [(e, None, Sent("dukcapil")) for e in sent[:15]]
    entries += [(e, None, Sent("dinsos", "sender 'dinsos' may not ...")) for e in sent[15:18]]
    entries += [(e, "schema: /: Required") for e in sent[18:]]
    assert await store.append(entries) == 20
    return sent


async def test_export_is_verified_offline_and_a_one_byte_edit_is_named(
    audit_store: AuditStore, tmp_path: Path
) -> None:
    sent = await fill(audit_store)
    key_file = tmp_path / "keys" / "audit.key"
    made = await cli("audit", "keygen", "--key-file", str(key_file), "--json")
    assert made.exit_code == 0, made.output
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    public = json.loads(made.stdout)["public_key"]
    shown = await cli("audit", "public-key", "--key-file", str(key_file), "--pem")
    assert shown.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    (tmp_path / "public.pem").write_text(shown.stdout)
    again = await cli("audit", "keygen", "--key-file", str(key_file))
    assert again.exit_code != 0 and "not overwriting" in again.output

    bundle_file = tmp_path / "bundle.json"
    exported = await cli(
        "audit",
        "export",
        "--from",
        sent[0]["time"][:10],  # the events' day and the store's: a run may cross midnight
        "--to",
        datetime.now(UTC).date().isoformat(),
        str(bundle_file),
        "--database-url",
        audit_store.url,
        "--key-file",
        str(key_file),
        "--json",
    )
    assert exported.exit_code == 0, exported.output
    bundle = json.loads(bundle_file.read_text())
    assert [r["seq"] for r in bundle["records"]] == list(range(1, 21))
    assert bundle["records"][0]["prev_hash"] == GENESIS
    assert bundle["records"][15]["sender"] == "dinsos"
    assert bundle["records"][15]["provenance"] is not None
    assert bundle["head"]["seq"] == 20

    # a machine with no store: a fresh process, no SPLP_* setting, an empty folder
    elsewhere = tmp_path / "auditor"
    elsewhere.mkdir()
    (elsewhere / "bundle.json").write_bytes(bundle_file.read_bytes())
    for key in (public, str(tmp_path / "public.pem")):
        ok = offline_verify(elsewhere, "--file", "bundle.json", "--key", key)
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout.startswith("ok: 20 records 1..20")
    assert sorted(p.name for p in elsewhere.iterdir()) == ["bundle.json"]  # no database made

    # one byte of record 7's event: its requester "dinsos" becomes "einsos"
    data = bytearray(bundle_file.read_bytes())
    record_7 = data.index(sent[6]["id"].encode())
    at = data.index(b'"dinsos"', record_7)
    data[at + 1] = ord("e")
    (elsewhere / "edited.json").write_bytes(bytes(data))
    refused = offline_verify(elsewhere, "--file", "edited.json", "--key", public)
    assert refused.returncode == 1
    assert "record 7 was modified" in refused.stderr
    assert f"first bad record: seq 7, event {sent[6]['id']}" in refused.stderr

    # the signature, and a key that is not the sink's
    edited = json.loads(bundle_file.read_text())
    value = edited["signature"]["value"]
    edited["signature"]["value"] = ("B" if value[0] == "A" else "A") + value[1:]
    (elsewhere / "resigned.json").write_text(json.dumps(edited))
    refused = offline_verify(elsewhere, "--file", "resigned.json", "--key", public)
    assert refused.returncode == 1 and "signature of the head does not verify" in refused.stderr
    other = SigningKey.generate().public_base64
    refused = offline_verify(elsewhere, "--file", "bundle.json", "--key", other, "--json")
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["ok"] is False

    # store mode still verifies the same chain
    verdict = await cli("audit", "verify", "--database-url", audit_store.url)
    assert verdict.exit_code == 0 and "ok: 20 records" in verdict.stdout


async def test_a_bundle_cut_or_reordered_is_refused(audit_store: AuditStore) -> None:
    await fill(audit_store)
    key = SigningKey.generate()
    from splp.audit.export import export

    day = datetime.now(UTC).date()
    bundle = await export(audit_store, day, day, key)
    assert check_bundle(bundle, key.public).ok
    schema = json.loads((ROOT / "schemas" / "audit-bundle.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(json.loads(json.dumps(bundle)))
    dropped = {**bundle, "records": bundle["records"][:5] + bundle["records"][6:]}
    verdict = check_bundle(dropped, key.public)
    assert verdict.bad_seq == 6 and "missing or out of order" in (verdict.problem or "")
    cut = {**bundle, "records": bundle["records"][:-1]}
    assert "head is not the last record" in (check_bundle(cut, key.public).problem or "")
    bad = check_bundle({**bundle, "records": []}, key.public)
    assert bad.problem == "the bundle holds no records"


async def test_the_sink_signs_its_head_every_n_records_into_the_table_and_a_file(
    broker: Settings, sink_queue: str, audit_store: AuditStore, tmp_path: Path
) -> None:
    settings = broker.model_copy(
        update={
            "audit_trusted_senders": broker.username,
            "audit_signing_key_file": tmp_path / "sink.key",
            "audit_anchor_every": 10,
            "audit_anchor_file": tmp_path / "anchors.jsonl",
        }
    )
    store = AuditStore(audit_store.url)
    anchoring = Anchoring.from_settings(store, settings)
    assert anchoring is not None
    assert stat.S_IMODE((tmp_path / "sink.key").stat().st_mode) == 0o600  # made on first start
    sink = AuditSink(
        store, broker.broker_url, queue=sink_queue, settings=settings, anchoring=anchoring
    )
    await publish(broker, [events(10), events(10), events(5)])
    async with running(sink):
        assert await wait_count(audit_store, 25) == 25
    await store.close()
    anchors = await audit_store.anchors()
    seqs = [a["seq"] for a in anchors]
    assert seqs[0] >= 10 and seqs[-1] == 25  # every 10 records, and the head at the stop
    lines = [json.loads(line) for line in (tmp_path / "anchors.jsonl").read_text().splitlines()]
    assert [line["seq"] for line in lines] == seqs
    key = SigningKey.load(tmp_path / "sink.key")
    assert {a["key_id"] for a in anchors} == {key.key_id}
    from splp.audit.export import export

    day = datetime.now(UTC).date()
    bundle = await export(audit_store, day, day, key)
    assert len(bundle["anchors"]) == len(anchors)
    verdict = check_bundle(bundle, load_public_key(key.public_base64))
    assert verdict.ok and verdict.anchors == len(anchors)
    # an anchor of another chain (the database rewritten up to it) is named
    bundle["anchors"][0]["hash"] = "f" * 64
    verdict = check_bundle(bundle, key.public)
    assert "differs from its signed anchor" in (verdict.problem or "")
    assert verdict.bad_seq == anchors[0]["seq"]


async def test_the_sink_signs_after_m_minutes_with_new_records(audit_store: AuditStore) -> None:
    anchoring = Anchoring(audit_store, SigningKey.generate(), every=1000, minutes=0.02)
    await audit_store.append([(e, None) for e in events(3)])
    assert await anchoring.after(3) is None  # 3 of 1000 records, 1.2 s not yet passed
    await asyncio.sleep(1.3)
    await audit_store.append([(e, None) for e in events(2)])
    anchor = await anchoring.after(2)
    assert anchor is not None and anchor["seq"] == 5
    assert await anchoring.after(0) is None  # nothing new: no anchor of the same head


@pytest.mark.parametrize("engine", DATABASE_ENGINES)
async def test_migrating_a_0001_chain_rehashes_it_only_if_it_verifies(
    engine: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    for tampered in (False, True):
        async with throwaway_database(engine, tmp_path_factory, "legacy") as url:
            store = AuditStore(url)
            try:
                await _legacy_chain(store, tampered)
                if tampered:
                    with pytest.raises(RuntimeError, match="audit record 2 does not verify"):
                        await store.migrate()
                    assert await store.revision() == "a0001"
                    continue
                await store.migrate()
                assert await store.revision() == MIGRATIONS.head()
                verdict = await verify(store)
                assert verdict.ok and verdict.records == 3, verdict
                assert await store.append([(e, None) for e in events(2)]) == 2
                assert (await verify(store)).records == 5
            finally:
                await store.close()


async def _legacy_chain(store: AuditStore, tampered: bool) -> None:
    """Three records hashed as release a0001 did (sorted-key orjson, no sender)."""
    from alembic import command

    async with store.engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(MIGRATIONS.config(sync), "a0001"))
    prev = GENESIS
    async with store.engine.begin() as connection:
        for seq, event in enumerate(events(3), start=1):
            legacy = {"event": event, "flag": None, "prev_hash": prev, "seq": seq}
            digest = hashlib.sha256(orjson.dumps(legacy, option=orjson.OPT_SORT_KEYS)).hexdigest()
            body = orjson.dumps(event, option=orjson.OPT_SORT_KEYS).decode()
            if tampered and seq == 2:
                body = body.replace("dinsos", "dinkes")
            await connection.execute(
                insert(AuditRecord).values(
                    seq=seq,
                    event_id=event["id"],
                    at=datetime.fromisoformat(event["time"]),
                    # the columns of revision a0001 (``operation`` came with a0005)
                    **{k: v for k, v in copied_columns(event).items() if k != "operation"},
                    event=body,
                    flag=None,
                    prev_hash=prev,
                    hash=digest,
                )
            )
            prev = digest


async def test_store_verify_catches_a_chain_rewritten_whole_by_its_anchors(
    audit_store: AuditStore, tmp_path: Path
) -> None:
    key = SigningKey.generate()
    await audit_store.append([(e, None, Sent("dukcapil")) for e in events(10)])
    anchor = await Anchoring(audit_store, key, every=10).after(10)
    assert anchor is not None and anchor["seq"] == 10
    assert (await verify(audit_store, public_key=key.public)).ok
    (tmp_path / "public.txt").write_text(key.public_base64)
    result = await cli(
        "audit", "verify", "--database-url", audit_store.url, "--key", str(tmp_path / "public.txt")
    )
    assert result.exit_code == 0, result.output

    # someone with the database rewrites record 3 and every hash after it: the chain
    # itself is sound again, but the signed head no longer matches
    async with audit_store.engine.begin() as connection:
        rows = (
            await connection.execute(
                select(AuditRecord).where(AuditRecord.seq >= 3).order_by(AuditRecord.seq)
            )
        ).all()
        prev = rows[0].prev_hash
        for row in rows:
            event = orjson.loads(row.event)
            if row.seq == 3:
                event["status"] = 500
            digest = record_hash(event, row.seq, prev, row.flag, row.sender, row.provenance)
            await connection.execute(
                update(AuditRecord)
                .where(AuditRecord.seq == row.seq)
                .values(
                    event=orjson.dumps(event).decode(),
                    status=event["status"],
                    prev_hash=prev,
                    hash=digest,
                )
            )
            prev = digest
    verdict = await verify(audit_store)
    assert not verdict.ok and verdict.bad_seq == 10
    assert "differs from its signed anchor" in (verdict.problem or "")
    # ... and if the anchor is rewritten too, only its signature gives it away
    async with audit_store.engine.begin() as connection:
        await connection.execute(update(AuditAnchor).values(hash=prev))
    assert (await verify(audit_store)).ok  # without the key, nothing to tell
    verdict = await verify(audit_store, public_key=key.public)
    assert verdict.problem == "the signature of the anchor of record 10 does not verify"
    result = await cli(
        "audit", "verify", "--database-url", audit_store.url, "--key", key.public_base64
    )
    assert result.exit_code == 1 and "anchor of record 10" in result.output


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=500, deadline=None)
@given(JSON_VALUES)
def test_the_fast_canonical_json_is_rfc8785(value: Any) -> None:
    from splp.audit.chain import canonical_json

    assert canonical_json(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    "number", [0.0, -0.0, 12.0, 12.5, 1e-4, 9.99e-5, 1e-7, 1e15, 1e16, 1e21, 123456789.125, -3.5]
)
def test_the_fast_canonical_json_writes_numbers_as_rfc8785(number: float) -> None:
    from splp.audit.chain import canonical_json

    assert canonical_json({"n": number, "é": [number]}) == rfc8785.dumps(
        {"n": number, "é": [number]}
    )
    assert canonical_json({"n": number}) == rfc8785.dumps({"n": number})


async def test_an_integer_jcs_cannot_hold_is_withheld_and_the_event_stored(
    audit_store: AuditStore,
) -> None:
    from splp.audit import screen

    event = {**events(1)[0], "request_bytes": 2**60}
    stored, flag = screen(event)
    assert flag is not None and stored["request_bytes"].startswith("withheld: int")
    assert await audit_store.append([(stored, flag, Sent("dukcapil"))]) == 1
    assert (await verify(audit_store)).ok
