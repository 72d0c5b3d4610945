"""The supervision report's drift check on the real broker: a permission removed behind
the directory's back is a finding for its OD (and for the broker), and gone once the
reconciler has repaired it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import httpx

from splp.directory_service.supervision_report import WIB
from tests.broker.conftest import made_world


async def test_drift_is_a_finding_of_its_od(management: httpx.AsyncClient, tmp_path: Path) -> None:
    async with made_world(management, tmp_path) as world:
        await world.grant("dinsos", "dukcapil.penduduk.v1")
        period = datetime.now(WIB).strftime("%Y-%m")

        async def report() -> dict[str, dict[str, object]]:
            answer = await world.api.get(
                "/supervision/report", params={"period": period}, headers=world.api.as_("admin")
            )
            assert answer.status_code == 200, answer.text
            body = answer.json()
            return {"broker": body["broker_drift"]} | {
                od["party"]: od["checks"]["no_drift"] for od in body["ods"]
            }

        clean = await report()
        assert {name: check["status"] for name, check in clean.items()} == dict.fromkeys(
            clean, "ok"
        )
        vhost = quote(world.settings.vhost, safe="")
        user = world.user("dinsos")
        removed = await management.delete(f"/api/permissions/{vhost}/{user}")
        assert removed.status_code == 204
        drifted = await report()
        assert drifted["dinsos"]["status"] == "finding"
        assert f"permission {user}: set" in drifted["dinsos"]["changes"]  # type: ignore[operator]
        assert drifted["broker"]["status"] == "finding"
        assert drifted["dinkes"]["status"] == "ok" and drifted["dukcapil"]["status"] == "ok"
        await world.reconciler.sync()
        assert (await report())["dinsos"]["status"] == "ok"
