"""Publisher-side adapters: the Python SDK and the config-driven HTTP adapter.

>>> from splp.adapters import Problem, Service
>>> service = Service.from_file("penduduk.yaml")  # doctest: +SKIP
>>> @service.operation("get-by-nik")  # doctest: +SKIP
... async def get_by_nik(payload, request):
...     raise Problem.not_found("no resident with that NIK")
"""

from __future__ import annotations

from splp.adapters.http import http_adapter, open_http_adapter, run_http_adapter
from splp.adapters.http_config import HttpAdapterConfig, load_http_config
from splp.adapters.runtime import Adapter, Handler
from splp.adapters.service import Service
from splp.bus.wire import Problem, Request

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
