"""The end-to-end demo: the whole bus on the embedded defaults, walked as the regulation asks.

1. the directory service (with its broker reconciler) and the audit sink start;
2. the administrator registers the two agencies and the ``kependudukan`` theme;
3. Dukcapil publishes its population register and starts its HTTP adapter;
4. Dinsos calls before it has a grant: the broker itself refuses;
5. the Pasal 7 procedure: Dinsos applies, the administrator approves, Dukcapil grants;
6. Dinsos makes real calls (two residents, an unknown and a malformed NIK);
7. an HTTP-only application of Dinsos calls through the HTTP gateway (OAuth2 client
   credentials), printing the curl commands an OD's PHP application would mirror;
8. Dinsos floods: the adapter throttles the calls beyond the grant's quota (429);
9. the administrator revokes the grant: the call is refused again;
10. the audit trail, its verification, the usage and the abuse reports;
11. everything stops and is deleted (:mod:`splp.demo.stage`).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from pydantic import SecretStr

from splp.adapters import Adapter, http_adapter, load_http_config
from splp.adapters.from_directory import from_directory
from splp.adapters.grants import DirectoryGrants
from splp.audit.verify import verify
from splp.bus import Client
from splp.demo.agency import RESIDENTS
from splp.demo.phrases import Phrases
from splp.demo.show import mask, trail_lines, usage_lines
from splp.demo.stage import DemoFailed, Stage, staged
from splp.errors import AccessDenied, RemoteError, TooManyRequests
from splp.settings import Settings

HERE = Path(__file__).resolve().parent
THEME, SERVICE, OPERATION = "kependudukan", "dukcapil.penduduk.v1", "get-by-nik"
QUOTA_PER_MINUTE = 7  # tokens for a burst of 7, then one every 8.6 s
GRANT_DAYS = 180  # personal data: a grant ends, and is re-certified, within a year
FLOOD = 5  # after the four real calls and the gateway's: two fit in the quota, three do not
STEPS = 10


class Narrator(Protocol):
    """Where the demo reports: ``step`` starts one of :data:`STEPS` steps, ``say`` a line."""

    def step(self, title: str) -> None: ...

    def say(self, line: str) -> None: ...


async def run_demo(
    settings: Settings,
    narrator: Narrator,
    phrases: Phrases | None = None,
    serve: bool = False,
) -> int:
    """Run the demo on the broker and management API of ``settings``; returns the calls made.

    ``phrases`` is the language of the narration (default English, ``Phrases("id")`` for
    Bahasa Indonesia). With ``serve``, the portal stays open with demo accounts after the
    walk, until the demo is interrupted (:func:`splp.demo.portal.open_portal`).
    """
    say = phrases or Phrases()
    narrator.step(say("step.start"))
    async with staged(settings) as stage:
        narrator.say(say("say.directory", url=stage.directory_url))
        narrator.say(say("say.sink", vhost=stage.settings.vhost))
        await _register(stage, narrator, say)
        adapter, grants = await _publish(stage, narrator, say)
        try:
            calls = await _walk(stage, narrator, say, grants)
        finally:
            await adapter.stop(grace=5)
        await _report(stage, narrator, say, calls)
        if serve:
            from splp.demo.portal import open_portal

            await open_portal(stage, narrator.say, say)
    narrator.say(say("say.done"))
    return calls


async def _register(stage: Stage, narrator: Narrator, say: Phrases) -> None:
    narrator.step(say("step.register", theme=THEME))
    await stage.add_party("dukcapil", ["publisher"], "Dinas Kependudukan dan Pencatatan Sipil")
    await stage.add_party("dinsos", ["requester"], "Dinas Sosial")
    await stage.api("admin", "POST", "/themes", {"name": THEME, "title": "Kependudukan"})
    for party in ("dukcapil", "dinsos"):
        user = stage.settings.broker_user_prefix + party
        narrator.say(say("say.party", party=party, user=user))


async def _publish(
    stage: Stage, narrator: Narrator, say: Phrases
) -> tuple[Adapter, DirectoryGrants]:
    narrator.step(say("step.publish"))
    import yaml

    document = yaml.safe_load((HERE / "penduduk.yaml").read_text(encoding="utf-8"))
    await stage.api("dukcapil", "POST", "/services", document)
    narrator.say(say("say.published", service=SERVICE, theme=THEME, url=stage.agency_url))
    config, _file_descriptor = load_http_config(HERE / "adapter.yaml")
    config.base_url = stage.agency_url
    dukcapil = stage.as_party("dukcapil")
    descriptor, grants = await from_directory(SERVICE, dukcapil)
    adapter = http_adapter(config, descriptor, dukcapil, grants=grants)
    await adapter.start()
    narrator.say(say("say.adapter", queue=adapter.queue))
    return adapter, grants


async def _walk(stage: Stage, narrator: Narrator, say: Phrases, grants: DirectoryGrants) -> int:
    dinsos = stage.as_party("dinsos")
    narrator.step(say("step.before-grant"))
    await _refused(dinsos, narrator, say, say("when.no-grant"))

    narrator.step(say("step.pasal-7"))
    # the register is personal data (UU 27/2022): purpose, legal basis and a contact
    body = {
        "service": SERVICE,
        "operations": [OPERATION],
        "reason": "bansos eligibility",
        "purpose": "checking the eligibility of social-aid (bansos) recipients",
        "legal_basis": "Permensos 3/2021 tentang Pengelolaan Data Terpadu Kesejahteraan Sosial",
        "contact": "Kepala Bidang Linjamsos, Dinas Sosial",
    }
    request = await stage.api("dinsos", "POST", "/access-requests", body)
    narrator.say(say("say.applied", id=request["id"], state=request["state"]))
    path = f"/access-requests/{request['id']}"
    check = {
        "reason": "Pasal 7 checked",
        "data_protection_note": "purpose and legal basis checked; contact named",
    }
    approved = await stage.api("admin", "POST", f"{path}/approve", check)
    narrator.say(say("say.approved", state=approved["state"]))
    until = (datetime.now(UTC) + timedelta(days=GRANT_DAYS)).isoformat()
    terms = {"reason": "ok", "quota_per_minute": QUOTA_PER_MINUTE, "expires_at": until}
    granted = await stage.api("dukcapil", "POST", f"{path}/grant", terms)
    narrator.say(say("say.granted", state=granted["state"], quota=QUOTA_PER_MINUTE))
    await _adapter_knows_grant(grants, "dinsos")

    async with Client(dinsos, name="dinsos-app") as client:
        narrator.step(say("step.calls"))
        calls = await _real_calls(client, narrator, say)
        narrator.step(say("step.gateway"))
        calls += await _through_the_gateway(stage, narrator, say)
        narrator.step(say("step.flood", flood=FLOOD))
        calls += await _flood(client, narrator, say)

    narrator.step(say("step.revoke"))
    await stage.api("admin", "POST", f"{path}/revoke", {"reason": "end of the bansos programme"})
    narrator.say(say("say.revoked"))
    await _refused(dinsos, narrator, say, say("when.revoked"))
    return calls


async def _real_calls(client: Client, narrator: Narrator, say: Phrases) -> int:
    """Two residents, then an unknown and a malformed NIK; returns the calls answered."""
    calls = 0
    for nik in RESIDENTS:
        started = time.perf_counter()
        reply = await client.call(THEME, SERVICE, OPERATION, {"nik": nik}, timeout=10)
        calls += 1
        ms = (time.perf_counter() - started) * 1000
        narrator.say(say("say.call", operation=OPERATION, ms=ms, reply=mask(reply)))
    for label, payload in (
        ("unknown-nik", {"nik": "1508019999999999"}),
        ("malformed-nik", {"nik": "15-08"}),
    ):
        try:
            await client.call(THEME, SERVICE, OPERATION, payload, timeout=10)
        except RemoteError as exc:
            calls += 1
            narrator.say(
                say(
                    "say.error",
                    label=say(f"label.{label}"),
                    name=type(exc).__name__,
                    status=exc.status,
                    type=exc.type,
                    detail=exc.detail,
                )
            )
        else:
            raise DemoFailed(f"the {label} call should have failed")
    return calls


async def _through_the_gateway(stage: Stage, narrator: Narrator, say: Phrases) -> int:
    """Dinsos registers an application; it takes a token from the gateway with its client
    credentials and calls over HTTP, on Dinsos's own grant and quota. Returns 1."""
    import httpx

    from splp.gateway import gateway_app, serving

    await stage.add_party("gerbang", ["gateway"], "SPLP HTTP gateway")
    application = await stage.api("dinsos", "POST", "/parties/dinsos/clients", {"name": "sipd"})
    gateway = stage.settings.model_copy(update={"token": SecretStr(stage.tokens["gerbang"])})
    path = f"/api/{SERVICE.replace('.', '/')}/{OPERATION}"
    async with serving(gateway_app(gateway)) as url, httpx.AsyncClient(timeout=10) as http:
        narrator.say(say("say.gateway", url=url, client=application["client_id"]))
        narrator.say(
            say(
                "say.curl",
                command=f'curl -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials '
                f"{url}/oauth2/token",
            )
        )
        token = await http.post(
            f"{url}/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(application["client_id"], application["client_secret"]),
        )
        if token.status_code != 200:
            raise DemoFailed(f"the gateway refused the client credentials: {token.text}")
        nik = next(iter(RESIDENTS))
        body = mask({"nik": nik})  # the NIK masked in the output, as everywhere
        command = (
            'curl -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" '
            f"-d '{body}' {url}{path}"
        )
        narrator.say(say("say.curl", command=command))
        started = time.perf_counter()
        reply = await http.post(
            url + path,
            json={"nik": nik},
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        )
        ms = (time.perf_counter() - started) * 1000
        if reply.status_code != 200:
            raise DemoFailed(f"the gateway call failed: {reply.status_code} {reply.text}")
        shown = mask(reply.json())
        narrator.say(say("say.gateway-call", path=path, status=200, ms=ms, reply=shown))
    return 1


async def _flood(client: Client, narrator: Narrator, say: Phrases) -> int:
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
        say(
            "say.throttled",
            throttled=len(throttled),
            flood=FLOOD,
            status=first.status,
            retry=first.retry_after or 0,
            detail=first.detail,
        )
    )
    narrator.say(say("say.within-quota", count=FLOOD - len(throttled)))
    return FLOOD


async def _adapter_knows_grant(grants: DirectoryGrants, requester: str) -> None:
    """Wait for the adapter's next refresh of its grants (every 0.5 s; at most 15 s)."""
    deadline = time.monotonic() + 15
    while grants.book.find(requester, OPERATION) is None:
        if time.monotonic() > deadline:
            raise DemoFailed(f"the adapter did not learn of {requester}'s grant in 15 s")
        await asyncio.sleep(0.1)


async def _refused(settings: Settings, narrator: Narrator, say: Phrases, when: str) -> None:
    """A call that the broker must refuse (its topic permission lacks the routing key)."""
    async with Client(settings, name="dinsos-app") as client:
        try:
            await client.call(THEME, SERVICE, OPERATION, {"nik": next(iter(RESIDENTS))}, timeout=5)
        except AccessDenied as exc:
            reason = str(exc).partition(": ")[2] or str(exc)
            narrator.say(say("say.refused", when=when, error=exc, reason=reason))
        else:
            raise DemoFailed(f"the call {when} should have been refused by the broker")


async def _report(stage: Stage, narrator: Narrator, say: Phrases, calls: int) -> None:
    narrator.step(say("step.report"))
    trail = await _settled_trail(stage, calls)
    for line in trail_lines(trail, stage.settings, say):
        narrator.say(line)
    verdict = await verify(stage.audit)
    if not verdict.ok:
        raise DemoFailed(f"audit verify: record {verdict.bad_seq}: {verdict.problem}")
    narrator.say(say("say.verify", records=verdict.records, head=verdict.head_hash[:16]))
    today = datetime.now(UTC).date().isoformat()
    report = await stage.api("admin", "GET", f"/audit/reports/usage?since={today}")
    for line in usage_lines(report, say):
        narrator.say(line)
    abuse = await stage.api("admin", "GET", f"/audit/reports/abuse?since={today}")
    for row in abuse["requesters"]:
        narrator.say(say("say.abuse", **row))


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
