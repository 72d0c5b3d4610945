"""Schemathesis over the directory's OpenAPI document: no request may produce a 5xx.

The app runs on a real uvicorn server in a thread of its own (with its own event loop and
store engine), because Schemathesis calls it synchronously. Every operation is fuzzed with
data that fits the schema and with data that does not, as a party holding all four roles,
against a store that has a service and requests in several states.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from splp.directory_service import create_app
from splp.directory_service.parties import create_party
from splp.directory_service.store import Store
from splp.http_server import free_port
from tests.directory.conftest import Api, directory_settings, walk

MAX_EXAMPLES = 20


@dataclass
class Target:
    url: str
    token: str
    schema: Any


class ThreadedServer:
    """A uvicorn server on its own thread and event loop."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="directory-fuzz", daemon=True)

    async def __aenter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the fuzz server stopped while starting")
            await asyncio.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    async def __aexit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        await asyncio.to_thread(self.thread.join, 30)


@pytest.fixture
async def target(api: Api, store: Store, penduduk: dict[str, Any]) -> AsyncIterator[Target]:
    for state in ("submitted", "approved", "granted", "suspended", "rejected"):
        await walk(api, penduduk, state)
    async with store.session() as session:
        _party, token = await create_party(
            session, "fuzzer", ["administrator", "publisher", "requester", "monitor"]
        )
    # the server thread opens its own engine on the same database (lifespan closes it)
    app = create_app(directory_settings(store.url), store=Store(store.url))
    schema = schemathesis.openapi.from_dict(app.openapi())
    async with ThreadedServer(app) as url:
        yield Target(url, token, schema)


def operations(schema: Any) -> Iterator[Any]:
    for result in schema.get_all_operations():
        yield result.ok()


@pytest.mark.slow
def test_no_request_makes_a_server_error(target: Target) -> None:
    failures: list[str] = []
    headers = {"Authorization": f"Bearer {target.token}"}
    for operation in operations(target.schema):
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def fuzz(case: Any) -> None:
                response = case.call(base_url=target.url, headers=headers, timeout=30)
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} -> {response.status_code}: "
                        f"{response.text[:300]}"
                    )

            fuzz()
    assert not failures, "\n".join(failures[:20])
    assert sum(1 for _ in operations(target.schema)) >= 20
