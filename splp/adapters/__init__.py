"""Publisher-side adapters: the Python SDK and the config-driven HTTP adapter.

>>> from splp.adapters import Problem, Service
>>> service = Service.from_file("penduduk.yaml")  # doctest: +SKIP
>>> @service.operation("get-by-nik")  # doctest: +SKIP
... async def get_by_nik(payload, request):
...     raise Problem.not_found("no resident with that NIK")

The HTTP adapter's entry points are imported when first used, so that an adapter with
Python handlers does not load the agency HTTP client (aiohttp).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from splp.adapters.http_config import HttpAdapterConfig, load_http_config
from splp.adapters.runtime import Adapter, Handler
from splp.adapters.service import Service
from splp.bus.wire import Problem, Request

if TYPE_CHECKING:
    from splp.adapters.http import http_adapter, open_http_adapter, run_http_adapter

_HTTP = ("http_adapter", "open_http_adapter", "run_http_adapter")

__all__ = [
    "Adapter",
    "Handler",
    "HttpAdapterConfig",
    "Problem",
    "Request",
    "Service",
    "http_adapter",
    "load_http_config",
    "open_http_adapter",
    "run_http_adapter",
]


def __getattr__(name: str) -> Any:
    if name not in _HTTP:
        raise AttributeError(f"module 'splp.adapters' has no attribute {name!r}")
    value = getattr(importlib.import_module("splp.adapters.http"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
