"""The publisher SDK: an agency application declares its handlers with a decorator.

>>> service = Service.from_file("penduduk.yaml")  # doctest: +SKIP
>>> @service.operation("get-by-nik")  # doctest: +SKIP
... async def get_by_nik(payload, request):
...     resident = await registry.find(payload["nik"])
...     if resident is None:
...         raise Problem.not_found("no resident with that NIK")
...     return resident
>>> await service.adapter().run()  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from splp.adapters.runtime import Adapter, Handler
from splp.bus.descriptor import ServiceDescriptor, load_descriptor
from splp.errors import ConfigurationError
from splp.settings import Settings


class Service:
    """A service descriptor plus the handlers registered for its operations."""

    def __init__(self, descriptor: ServiceDescriptor) -> None:
        self.descriptor = descriptor
        self.handlers: dict[str, Handler] = {}

    @classmethod
    def from_file(cls, path: str | Path) -> Service:
        return cls(load_descriptor(path))

    def operation(self, name: str) -> Any:
        """Register the decorated coroutine ``f(payload, request)`` as the handler of ``name``."""
        if name not in self.descriptor.operations:
            raise ConfigurationError(f"{self.descriptor.ref} has no operation {name!r}")
        if name in self.handlers:
            raise ConfigurationError(f"operation {name!r} already has a handler")

        def register(handler: Handler) -> Handler:
            self.handlers[name] = handler
            return handler

        return register

    def adapter(self, settings: Settings | None = None, **options: Any) -> Adapter:
        """An :class:`Adapter` serving this service; ``options`` go to its constructor."""
        return Adapter(self.descriptor, self.handlers, settings, **options)
