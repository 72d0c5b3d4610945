"""``splp demo --serve``: after the walk, the portal stays open with demo accounts.

Four people get accounts, one per role of the walk (the Kominfo administrator, the
Dukcapil publisher, the Dinsos requester, an Inspektorat monitor), each with a random
password printed once. The demo keeps everything running until Ctrl-C, then takes it all
down as it does without ``--serve``.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable

from splp.demo.phrases import Phrases
from splp.demo.stage import Stage

PEOPLE = (
    # party, e-mail, name, roles
    ("admin", "admin@kominfo.demo", "Admin Kominfo", ["administrator"]),
    ("dukcapil", "operator@dukcapil.demo", "Operator Dukcapil", ["publisher"]),
    ("dinsos", "operator@dinsos.demo", "Operator Dinsos", ["requester"]),
    ("inspektorat", "auditor@inspektorat.demo", "Auditor Inspektorat", ["monitor"]),
)


async def forever() -> None:
    await asyncio.Event().wait()


async def open_portal(
    stage: Stage,
    say_line: Callable[[str], None],
    say: Phrases,
    until: Callable[[dict[str, str]], Awaitable[None]] | None = None,
) -> dict[str, str]:
    """Give each demo person an account, print the portal's address and the logins, and
    wait for ``until(logins)`` (by default, for ever: Ctrl-C ends the demo)."""
    await stage.add_party("inspektorat", ["monitor"], "Inspektorat Daerah")
    logins = {}
    for party, email, name, roles in PEOPLE:
        body = {"party": party, "email": email, "name": name, "roles": roles}
        created = await stage.api("admin", "POST", "/users", body)
        password = secrets.token_urlsafe(12)
        await stage.api(
            "admin",
            "POST",
            "/auth/set-password",
            {"token": created["setup_token"], "password": password},
        )
        logins[email] = password
    say_line(say("say.portal", url=stage.directory_url))
    for (party, email, _name, roles), password in zip(PEOPLE, logins.values(), strict=True):
        say_line(say("say.login", role=roles[0], party=party, email=email, password=password))
    say_line(say("say.portal-wait"))
    await (until(logins) if until is not None else forever())
    return logins
