"""What an adapter owns is closed on stop, newest first, even when one close fails."""

from __future__ import annotations

import pytest

from splp.adapters import Adapter
from splp.settings import Settings
from tests.services import HANDLERS, echo_descriptor


async def test_a_failing_close_does_not_leave_the_others_open() -> None:
    adapter = Adapter(echo_descriptor(service="echo-cleanup"), HANDLERS, Settings(vhost="unused"))
    closed: list[str] = []

    async def http_client() -> None:
        closed.append("http client")

    async def broken() -> None:
        closed.append("broken")
        raise OSError("cannot close")

    async def cache() -> None:
        closed.append("cache")

    for close in (http_client, broken, cache):
        adapter.owns(close)
    with pytest.raises(OSError, match="cannot close"):
        await adapter.stop(grace=0)
    assert closed == ["cache", "broken", "http client"]

    await adapter.stop(grace=0)  # closed once: a second stop closes nothing again
    assert closed == ["cache", "broken", "http client"]
