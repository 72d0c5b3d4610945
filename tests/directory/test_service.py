"""The directory as an operator starts it: ``splp directory serve`` in a real process."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx

import splp.directory_service
from splp.http_server import free_port


def test_public_names_are_exactly_these() -> None:
    assert splp.directory_service.__all__ == sorted(splp.directory_service.__all__)
    assert set(splp.directory_service.__all__) == {
        "DirectoryEvents",
        "Store",
        "close_directory",
        "directory_app",
        "dump",
        "init_store",
        "restore",
    }


async def test_serve_migrates_and_answers_with_docs(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SPLP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}",
        "SPLP_AMQP_URL": "amqp://guest:guest@127.0.0.1:1/",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "splp",
        "directory",
        "serve",
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            deadline = asyncio.get_running_loop().time() + 60
            while True:
                try:
                    docs = await client.get("/docs")
                    break
                except httpx.ConnectError:
                    assert process.returncode is None, await process.stderr.read()  # type: ignore[union-attr]
                    assert asyncio.get_running_loop().time() < deadline, "no start in 60 s"
                    await asyncio.sleep(0.1)
            assert docs.status_code == 200 and "swagger" in docs.text.lower()
            openapi = (await client.get("/openapi.json")).json()
            assert openapi["info"]["title"] == "SPLP directory"
            assert "bearerAuth" in str(openapi["components"]["securitySchemes"]) or (
                "HTTPBearer" in str(openapi["components"]["securitySchemes"])
            )
            # the store was migrated at start: an API call reaches the tables
            me = await client.get("/me", headers={"Authorization": "Bearer splp_nobody"})
            assert me.status_code == 401
            assert me.headers["content-type"] == "application/problem+json"
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)
    assert (tmp_path / "fresh.db").exists()
