"""The end-to-end demo: the whole bus on the embedded defaults, walked as the regulation asks.

1. the directory service (with its broker reconciler) and the audit sink start;
2. the administrator registers the two agencies and the ``kependudukan`` theme;
3. Dukcapil publishes its population register and starts its HTTP adapter;
4. Dinsos calls before it has a grant: the broker itself refuses;
5. the Pasal 7 procedure: Dinsos applies, the administrator approves, Dukcapil grants;
6. Dinsos makes real calls (two residents, an unknown and a malformed NIK);
7. Dinsos floods: the adapter throttles the calls beyond the grant's quota (429);
8. the administrator revokes the grant: the call is refused again;
9. the audit trail, its verification, the usage and the abuse reports;
10. everything stops and is deleted (:mod:`splp.demo.stage`).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from splp.adapters import Adapter, http_adapter, load_http_config
from splp.adapters.from_directory import from_directory
from splp.adapters.grants import DirectoryGrants
from splp.audit.verify import verify
from splp.bus import Client
from splp.demo.agency import RESIDENTS
from splp.demo.show import mask, trail_lines, usage_lines
from splp.demo.stage import DemoFailed, Stage, staged
from splp.errors import AccessDenied, RemoteError, TooManyRequests
from splp.settings import Settings

HERE = Path(__file__).resolve().parent
THEME, SERVICE, OPERATION = "kependudukan", "dukcapil.penduduk.v1", "get-by-nik"
QUOTA_PER_MINUTE = 6  # tokens for a burst of 6, then one every 10 s
FLOOD = 5  # calls at once after the four real ones: two fit in the quota, three do not
STEPS = 9


class Narrator(Protocol):
    """Where the demo reports: ``step`` starts one of :data:`STEPS` steps, ``say`` a line."""

    def step(self, title: str) -> None: ...

    def say(self, line: str) -> None: ...


async def run_demo(settings: Settings, narrator: Narrator) -> int:
    """Run the demo on the broker and management API of ``settings``; returns the calls made."""
    narrator.step("starting the directory service, its broker reconciler and the audit sink")
    async with staged(settings) as stage:
        narrator.say(f"directory service on {stage.directory_url} (SQLite store, temporary)")
        narrator.say(f"audit sink consuming splp.audit.sink in vhost {stage.settings.vhost}")
        await _register(stage, narrator)
        adapter, grants = await _publish(stage, narrator)
        try:
            calls = await _walk(stage, narrator, grants)
        finally:
            await adapter.stop(grace=5)
        await _report(stage, narrator, calls)
    narrator.say("[done] adapter, agency API, audit sink and directory stopped; vhost deleted")
    return calls


async def _register(stage: Stage, narrator: Narrator) -> None:
    narrator.step("the administrator registers Dukcapil, Dinsos and the theme kependudukan")
    await stage.add_party("dukcapil", ["publisher"], "Dinas Kependudukan dan Pencatatan Sipil")
    await stage.add_party("dinsos", ["requester"], "Dinas Sosial")
    await stage.api("admin", "POST", "/themes", {"name": THEME, "title": "Kependudukan"})
    for party in ("dukcapil", "dinsos"):
        user = stage.settings.broker_user_prefix + party
        narrator.say(f"party {party}: API token issued, broker user {user} made by the reconciler")


async def _publish(stage: Stage, narrator: Narrator) -> tuple[Adapter, DirectoryGrants]:
    narrator.step("Dukcapil publishes its population register and starts its HTTP adapter")
    import yaml

    document = yaml.safe_load((HERE / "penduduk.yaml").read_text(encoding="utf-8"))
    await stage.api("dukcapil", "POST", "/services", document)
    narrator.say(f"published {SERVICE} in theme {THEME}; REST API on {stage.agency_url}")
    config, _file_descriptor = load_http_config(HERE / "adapter.yaml")
    config.base_url = stage.agency_url
    dukcapil = stage.as_party("dukcapil")
    descriptor, grants = await from_directory(SERVICE, dukcapil)
    adapter = http_adapter(config, descriptor, dukcapil, grants=grants)
    await adapter.start()
    narrator.say(
        f"HTTP adapter consuming {adapter.queue}, descriptor and grants from the directory"
    )
    return adapter, grants


async def _walk(stage: Stage, narrator: Narrator, grants: DirectoryGrants) -> int:
    dinsos = stage.as_party("dinsos")
    narrator.step("Dinsos calls before it has a grant")
    await _refused(dinsos, narrator, "no grant yet")

    narrator.step("Pasal 7: Dinsos applies, the administrator approves, Dukcapil grants")
    body = {"service": SERVICE, "operations": [OPERATION], "reason": "bansos eligibility"}
    request = await stage.api("dinsos", "POST", "/access-requests", body)
    narrator.say(f"dinsos applied: request {request['id']} is {request['state']}")
    path = f"/access-requests/{request['id']}"
    approved = await stage.api("admin", "POST", f"{path}/approve", {"reason": "Pasal 7 checked"})
    narrator.say(f"the administrator approved: {approved['state']}")
    granted = await stage.api(
        "dukcapil", "POST", f"{path}/grant", {"reason": "ok", "quota_per_minute": QUOTA_PER_MINUTE}
    )
    narrator.say(f"dukcapil granted: {granted['state']}, quota {QUOTA_PER_MINUTE} calls/minute")
    await _adapter_knows_grant(grants, "dinsos")

    async with Client(dinsos, name="dinsos-app") as client:
        narrator.step("Dinsos makes real calls through the bus")
        calls = await _real_calls(client, narrator)
        narrator.step(f"Dinsos sends {FLOOD} calls at once: the adapter enforces the quota")
        calls += await _flood(client, narrator)

    narrator.step("the administrator revokes the grant")
    await stage.api("admin", "POST", f"{path}/revoke", {"reason": "end of the bansos programme"})
    narrator.say("revoked: the reconciler withdrew the broker permission and closed the connection")
    await _refused(dinsos, narrator, "after the revocation")
    return calls


async def _real_calls(client: Client, narrator: Narrator) -> int:
    """Two residents, then an unknown and a malformed NIK; returns the calls answered."""
    calls = 0
    for nik in RESIDENTS:
        started = time.perf_counter()
        reply = await client.call(THEME, SERVICE, OPERATION, {"nik": nik}, timeout=10)
        calls += 1
        ms = (time.perf_counter() - started) * 1000
        narrator.say(f"[call] {OPERATION} -> 200 in {ms:.1f} ms: {mask(reply)}")
    for label, payload in (
        ("unknown NIK", {"nik": "1508019999999999"}),
        ("malformed NIK", {"nik": "15-08"}),
    ):
        try:
            await client.call(THEME, SERVICE, OPERATION, payload, timeout=10)
        except RemoteError as exc:
            calls += 1
            name = type(exc).__name__
            narrator.say(f"[error] {label}: {name} {exc.status} {exc.type}: {exc.detail}")
        else:
            raise DemoFailed(f"the {label} call should have failed")
    return calls


async def _flood(client: Client, narrator: Narrator) -> int:
    """:data:`FLOOD` calls at once, beyond the grant's quota (Pasal 8(5)b): the adapter's
    token bucket answers the excess with 429 and ``retry_after``; returns the calls."""
    nik = {"nik": next(iter(RESIDENTS))}
    outcomes = await asyncio.gather(
        *(client.call(THEME, SERVICE, OPERATION, nik, timeout=10) for _ in range(FLOOD)),
        return_exceptions=True,
    )
    throttled = [o for o in outcomes if isinstance(o, TooManyRequests)]
    unexpected = [o for o in outcomes if isinstance(o, BaseException) and o not in throttled]
    if unexpected or not throttled:
        raise DemoFailed(f"the quota was not enforced as expected: {outcomes!r}")
    first = throttled[0]
    narrator.say(
        f"[throttled] {len(throttled)} of {FLOOD} calls: TooManyRequests {first.status}, "
        f"retry after {first.retry_after or 0:g} s ({first.detail})"
    )
    narrator.say(f"[call] the other {FLOOD - len(throttled)} were answered within the quota")
    return FLOOD


async def _adapter_knows_grant(grants: DirectoryGrants, requester: str) -> None:
    """Wait for the adapter's next refresh of its grants (every 0.5 s; at most 15 s)."""
    deadline = time.monotonic() + 15
    while grants.book.find(requester, OPERATION) is None:
        if time.monotonic() > deadline:
            raise DemoFailed(f"the adapter did not learn of {requester}'s grant in 15 s")
        await asyncio.sleep(0.1)


async def _refused(settings: Settings, narrator: Narrator, when: str) -> None:
    """A call that the broker must refuse (its topic permission lacks the routing key)."""
    async with Client(settings, name="dinsos-app") as client:
        try:
            await client.call(THEME, SERVICE, OPERATION, {"nik": next(iter(RESIDENTS))}, timeout=5)
        except AccessDenied as exc:
            narrator.say(f"[refused] {when}: the broker refused the publish ({exc})")
        else:
            raise DemoFailed(f"the call {when} should have been refused by the broker")


async def _report(stage: Stage, narrator: Narrator, calls: int) -> None:
    narrator.step("the audit trail, its verification, the usage and the abuse reports")
    trail = await _settled_trail(stage, calls)
    for line in trail_lines(trail, stage.settings):
        narrator.say(line)
    verdict = await verify(stage.audit)
    if not verdict.ok:
        raise DemoFailed(f"audit verify: record {verdict.bad_seq}: {verdict.problem}")
    narrator.say(
        f"[verify] audit chain intact: {verdict.records} records, head {verdict.head_hash[:16]}"
    )
    today = datetime.now(UTC).date().isoformat()
    report = await stage.api("admin", "GET", f"/audit/reports/usage?since={today}")
    for line in usage_lines(report):
        narrator.say(line)
    abuse = await stage.api("admin", "GET", f"/audit/reports/abuse?since={today}")
    for row in abuse["requesters"]:
        narrator.say(
            f"[abuse] {row['requester']}: {row['refused']} refused "
            f"({row['throttled']} throttled, {row['denied']} denied) of {row['calls']} calls"
        )


async def _settled_trail(stage: Stage, calls: int) -> list[dict[str, object]]:
    """The stored records once the sink has every answered call (at most 15 s)."""
    deadline = time.monotonic() + 15
    while True:
        page = await stage.api("admin", "GET", "/audit/events?latest=true&limit=500")
        records: list[dict[str, object]] = page["records"]
        answered = [r for r in records if _kind(r) in ("response", "throttled")]
        if len(answered) >= calls or time.monotonic() > deadline:
            if len(answered) < calls:
                raise DemoFailed(f"the audit sink stored {len(answered)} of {calls} calls")
            await asyncio.sleep(0.3)  # broker events trail the calls slightly
            page = await stage.api("admin", "GET", "/audit/events?latest=true&limit=500")
            return list(page["records"])
        await asyncio.sleep(0.2)


def _kind(record: dict[str, object]) -> object:
    event = record.get("event")
    return event.get("kind") if isinstance(event, dict) else None
