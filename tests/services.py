"""Descriptors and handlers of small test services."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from splp.bus import Request, ServiceDescriptor
from splp.bus.descriptor import parse_descriptor

OBJECT = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"}


def echo_descriptor(
    publisher: str = "uji", service: str = "echo", theme: str = "uji"
) -> ServiceDescriptor:
    """A service with ``echo`` (returns its input plus handler facts), ``sleep`` and ``fail``."""
    return parse_descriptor(
        {
            "publisher": publisher,
            "service": service,
            "version": "1.0.0",
            "theme": theme,
            "title": "Echo for tests",
            "operations": {
                "echo": {
                    "request": {
                        **OBJECT,
                        "required": ["id"],
                        "properties": {"id": {"type": "integer"}, "delay": {"type": "number"}},
                    },
                    "response": {**OBJECT, "required": ["id"]},
                },
                "fail": {"request": OBJECT, "response": OBJECT},
                "bad-response": {"request": OBJECT, "response": {**OBJECT, "required": ["never"]}},
            },
        }
    )


async def echo(payload: Any, request: Request) -> Any:
    delay = payload.get("delay")
    if delay:
        await asyncio.sleep(delay)
    return {
        "id": payload["id"],
        "pid": os.getpid(),
        "requester": request.requester,
        "redelivered": request.redelivered,
    }


async def fail(payload: Any, request: Request) -> Any:
    raise RuntimeError("handler bug (this text must not reach the caller)")


async def bad_response(payload: Any, request: Request) -> Any:
    return {"something": "else"}


HANDLERS = {"echo": echo, "fail": fail, "bad-response": bad_response}
