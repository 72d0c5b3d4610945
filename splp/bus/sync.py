"""A blocking facade over :class:`~splp.bus.client.Client`, for scripts and notebooks.

>>> with SyncClient() as client:  # doctest: +SKIP
...     client.call("kependudukan", "dukcapil.penduduk.v1", "get-by-nik", {"nik": "1508..."})
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Any

from splp.bus.client import Client
from splp.bus.names import ServiceRef
from splp.settings import Settings


class SyncClient:
    """Runs a :class:`Client` on a private event loop in a daemon thread."""

    def __init__(self, settings: Settings | None = None, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="splp-sync", daemon=True
        )
        self._thread.start()
        self._client = Client(settings, **options)
        try:
            self._run(self._client.connect())
        except BaseException:
            self._shutdown()
            raise

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def call(
        self,
        theme: str,
        service: ServiceRef | str,
        operation: str,
        payload: Any,
        *,
        timeout: float | None = None,
    ) -> Any:
        """Like :meth:`Client.call`, blocking until the reply or the error."""
        return self._run(self._client.call(theme, service, operation, payload, timeout=timeout))

    def close(self) -> None:
        try:
            self._run(self._client.close())
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
