from __future__ import annotations

from tests.directory.conftest import publish, walk


async def test_publish_and_walk(api, penduduk):
    response = await publish(api, penduduk)
    assert response.status_code == 201, response.text
    rid = await walk(api, penduduk, "granted")
    r = await api.get(f"/access-requests/{rid}/history", headers=api.as_("dinsos"))
    assert [e["step"] for e in r.json()] == ["request", "approve", "grant"]
