"""What the soak sets up before the load: the directory's parties, service and grant, and
the requester's broker user.

The directory is set up through its own API, as an operator would: ``splp directory
init`` prints the first administrator's token, which registers a publisher and a
requester, a theme; the publisher places its service, the requester applies, the
administrator approves and the publisher grants.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx

from bench.common import echo_descriptor
from splp.settings import Settings

PUBLISHER, REQUESTER, SERVICE = "bench", "dinsos", "soak"
QUOTA_PER_MINUTE = 1_000_000  # the token bucket is exercised, never empty
STEP_TIMEOUT = 30.0


@dataclass
class Parties:
    admin_token: str
    publisher_token: str
    requester_token: str


async def init_directory(env: dict[str, str]) -> str:
    """``splp directory init`` on ``SPLP_DATABASE_URL``; the administrator's token."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "splp",
        "directory",
        "init",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), STEP_TIMEOUT)
    if process.returncode != 0:
        raise RuntimeError(f"splp directory init exited {process.returncode}: {err.decode()}")
    return out.decode().strip().splitlines()[-1]


async def wait_until_serving(url: str, timeout: float = STEP_TIMEOUT) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    async with httpx.AsyncClient(timeout=2) as http:
        while True:
            try:
                await http.get(url + "/openapi.json")
                return
            except httpx.TransportError as exc:
                if loop.time() > end:
                    raise RuntimeError(
                        f"the directory at {url} did not start in {timeout}s"
                    ) from exc
                await asyncio.sleep(0.1)


async def configure_directory(url: str, admin_token: str) -> Parties:
    """The publisher, the requester, the theme, the service and a grant of ``echo``."""
    async with httpx.AsyncClient(base_url=url, timeout=STEP_TIMEOUT) as http:

        async def step(token: str, path: str, body: dict[str, Any]) -> Any:
            headers = {"Authorization": f"Bearer {token}"}
            response = await http.post(path, json=body, headers=headers)
            if not response.is_success:
                raise RuntimeError(f"POST {path}: {response.status_code} {response.text}")
            return response.json()

        publisher = await step(admin_token, "/parties", {"name": PUBLISHER, "roles": ["publisher"]})
        requester = await step(admin_token, "/parties", {"name": REQUESTER, "roles": ["requester"]})
        descriptor = echo_descriptor(SERVICE)
        await step(admin_token, "/themes", {"name": descriptor.theme})
        await step(publisher["token"], "/services", descriptor.model_dump(mode="json"))
        request = await step(
            requester["token"],
            "/access-requests",
            {"service": str(descriptor.ref), "operations": ["echo"], "reason": "soak"},
        )
        await step(admin_token, f"/access-requests/{request['id']}/approve", {"reason": "soak"})
        await step(
            publisher["token"],
            f"/access-requests/{request['id']}/grant",
            {"reason": "soak", "quota_per_minute": QUOTA_PER_MINUTE},
        )
    return Parties(admin_token, publisher["token"], requester["token"])


def management_client(management_url: str) -> httpx.AsyncClient:
    parts = urlsplit(management_url)
    auth = (unquote(parts.username or "guest"), unquote(parts.password or "guest"))
    netloc = (parts.hostname or "127.0.0.1") + (f":{parts.port}" if parts.port else "")
    return httpx.AsyncClient(base_url=parts._replace(netloc=netloc).geturl(), auth=auth, timeout=30)


async def add_broker_user(settings: Settings, user: str) -> str:
    """A broker user who may publish in the vhost (the adapter checks its grants); its
    password."""
    password = secrets.token_urlsafe(18)
    vhost = quote(settings.vhost, safe="")
    async with management_client(settings.management_url) as api:
        path = f"/api/users/{quote(user, safe='')}"
        (await api.put(path, json={"password": password, "tags": ""})).raise_for_status()
        permissions = {"configure": "", "write": ".*", "read": ""}
        (
            await api.put(f"/api/permissions/{vhost}/{quote(user, safe='')}", json=permissions)
        ).raise_for_status()
    return password


async def delete_broker_user(settings: Settings, user: str) -> None:
    async with management_client(settings.management_url) as api:
        await api.delete(f"/api/users/{quote(user, safe='')}")
