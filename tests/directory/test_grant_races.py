"""Grant state changes are conditional updates: a lost race is a 409, never a silent undo.

A revoke and a resume of the same suspended grant, sent at once to two directory
replicas (each with its own engine on the same database), must never leave the grant
``granted`` after the revoke was answered 200. On SQLite ``SELECT ... FOR UPDATE`` is
ignored, so only the ``UPDATE ... WHERE state = <expected>`` row count can tell.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx

from splp.control_plane import close_app, create_app
from splp.directory_service import Store
from tests.directory.conftest import Api, directory_settings, walk

ROUNDS = 4


async def test_concurrent_revoke_and_resume_never_bring_a_grant_back(
    api: Api, store: Store, penduduk: dict[str, Any]
) -> None:
    replica = create_app(directory_settings(store.url), store=Store(store.url))
    other = httpx.AsyncClient(transport=httpx.ASGITransport(replica), base_url="http://replica")
    try:
        for _round in range(ROUNDS):
            request_id = await walk(api, penduduk, "suspended")
            revoke, resume = await asyncio.gather(
                api.post(
                    f"/access-requests/{request_id}/revoke",
                    json={"reason": "abuse"},
                    headers=api.as_("admin"),
                ),
                other.post(
                    f"/access-requests/{request_id}/resume",
                    json={"reason": "ok"},
                    headers=api.as_("dukcapil"),
                ),
            )
            answers = (revoke.status_code, resume.status_code)
            assert answers in {(200, 200), (200, 409), (409, 200)}, (revoke.text, resume.text)
            state = await api.get(f"/access-requests/{request_id}", headers=api.as_("admin"))
            # a revoke answered 200 is final; one that lost the race was told so (409)
            expected = "revoked" if revoke.status_code == 200 else "granted"
            assert state.json()["state"] == expected, (answers, state.json())
            history = (
                await api.get(f"/access-requests/{request_id}/history", headers=api.as_("admin"))
            ).json()
            for before, after in itertools.pairwise(history):
                assert after["from_state"] == before["to_state"], history
    finally:
        await other.aclose()
        await close_app(replica)
