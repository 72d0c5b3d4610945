"""The client half of each scenario: something with ``await call(payload) -> reply``."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from typing import Any, Protocol

import aio_pika
import aiohttp
import orjson

from bench.common import (
    AUDIT_THEME,
    FASTSTREAM_QUEUE,
    HTTP_PATH,
    OPERATION,
    PREFETCH,
    PUBLISHER,
    RAW_QUEUE,
    SERVICE_AUDIT,
    SERVICE_GATEWAY,
    SERVICE_HTTP,
    SERVICE_PYTHON,
    THEME,
    scale_services,
)
from splp.bus import Client
from splp.settings import Settings

DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"
TIMEOUT = 30.0


class Caller(Protocol):
    async def start(self) -> None: ...

    async def call(self, payload: dict[str, Any]) -> Any: ...

    async def close(self) -> None: ...


class RawCaller:
    """Hand-written aio-pika RPC: direct reply-to and a correlation map, nothing else."""

    def __init__(self, settings: Settings) -> None:
        self.url = settings.broker_url
        self.pending: dict[str, asyncio.Future[bytes]] = {}
        self.connection: aio_pika.abc.AbstractConnection | None = None
        self.exchange: aio_pika.abc.AbstractExchange | None = None

    async def start(self) -> None:
        self.connection = await aio_pika.connect(self.url)
        channel = await self.connection.channel()  # publisher confirms, as the SPLP client
        replies = await channel.declare_queue(DIRECT_REPLY_TO, passive=True)
        await replies.consume(self._on_reply, no_ack=True)
        self.exchange = channel.default_exchange

    async def _on_reply(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        future = self.pending.pop(message.correlation_id or "", None)
        if future is not None and not future.done():
            future.set_result(message.body)

    async def call(self, payload: dict[str, Any]) -> Any:
        assert self.exchange is not None
        correlation_id = uuid.uuid4().hex
        future = asyncio.get_running_loop().create_future()
        self.pending[correlation_id] = future
        message = aio_pika.Message(
            orjson.dumps(payload),
            correlation_id=correlation_id,
            reply_to=DIRECT_REPLY_TO,
            content_type="application/json",
        )
        try:
            await self.exchange.publish(message, routing_key=RAW_QUEUE)
            return orjson.loads(await future)
        finally:
            self.pending.pop(correlation_id, None)

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()


class SplpCaller:
    """``splp.bus.Client.call`` to echo services, in turn (one service: always that one)."""

    def __init__(self, settings: Settings, services: list[str], theme: str = THEME) -> None:
        self.client = Client(settings, name="bench-requester")
        self.theme = theme
        self.services = itertools.cycle([f"{PUBLISHER}.{service}.v1" for service in services])

    async def start(self) -> None:
        await self.client.connect()

    async def call(self, payload: dict[str, Any]) -> Any:
        service = next(self.services)
        return await self.client.call(self.theme, service, OPERATION, payload, timeout=TIMEOUT)

    async def close(self) -> None:
        await self.client.close()


class HttpCaller:
    """A direct HTTP call to the agency stub with aiohttp, the HTTP adapter's client, and as
    many keep-alive connections as workers."""

    def __init__(self, base_url: str) -> None:
        self.url = base_url + HTTP_PATH
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> None:  # aiohttp wants a running loop
        connector = aiohttp.TCPConnector(limit=PREFETCH)
        timeout = aiohttp.ClientTimeout(total=TIMEOUT)
        self.session = aiohttp.ClientSession(connector=connector, timeout=timeout)

    async def call(self, payload: dict[str, Any]) -> Any:
        assert self.session is not None
        async with self.session.post(
            self.url, data=orjson.dumps(payload), headers={"content-type": "application/json"}
        ) as response:
            response.raise_for_status()
            return orjson.loads(await response.read())

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


class GatewayCaller:
    """An application of the HTTP gateway: a token by client credentials, then calls over
    HTTP with aiohttp (the ``http`` scenario's client) and as many keep-alive connections
    as workers."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.base = info["url"]
        self.url = f"{info['url']}/api/{PUBLISHER}/{SERVICE_GATEWAY}/v1/{OPERATION}"
        self.credentials = aiohttp.BasicAuth(info["client_id"], info["client_secret"])
        self.session: aiohttp.ClientSession | None = None
        self.headers: dict[str, str] = {}

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=PREFETCH)
        timeout = aiohttp.ClientTimeout(total=TIMEOUT)
        self.session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        async with self.session.post(
            self.base + "/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=self.credentials,
        ) as response:
            response.raise_for_status()
            token = (await response.json())["access_token"]
        self.headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}

    async def call(self, payload: dict[str, Any]) -> Any:
        assert self.session is not None
        async with self.session.post(
            self.url, data=orjson.dumps(payload), headers=self.headers
        ) as response:
            response.raise_for_status()
            return orjson.loads(await response.read())

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


class FastStreamCaller:
    """FastStream's own RPC: ``RabbitBroker.request`` (direct reply-to)."""

    def __init__(self, settings: Settings) -> None:
        from faststream.rabbit import RabbitBroker

        self.broker = RabbitBroker(settings.broker_url, logger=None)

    async def start(self) -> None:
        await self.broker.connect()

    async def call(self, payload: dict[str, Any]) -> Any:
        message = await self.broker.request(payload, FASTSTREAM_QUEUE, timeout=TIMEOUT)
        return await message.decode()

    async def close(self) -> None:
        await self.broker.stop()


def make_caller(scenario: str, settings: Settings, info: dict[str, Any]) -> Caller:
    """The client of ``scenario``; ``info`` is what its server reported when ready."""
    if scenario == "aio-pika":
        return RawCaller(settings)
    if scenario in ("splp", "splp-cluster"):  # splp-cluster: settings of the cluster
        return SplpCaller(settings, [SERVICE_PYTHON])
    if scenario == "splp-audit":
        return SplpCaller(settings, [SERVICE_AUDIT], AUDIT_THEME)
    if scenario == "splp-http":
        return SplpCaller(settings, [SERVICE_HTTP])
    if scenario.startswith(("services-", "replicas-")):
        return SplpCaller(settings, scale_services(scenario))
    if scenario == "http":
        return HttpCaller(info["url"])
    if scenario == "faststream":
        return FastStreamCaller(settings)
    if scenario == "gateway":
        return GatewayCaller(info)
    raise ValueError(f"unknown scenario {scenario!r}")
