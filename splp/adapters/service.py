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

from splp.adapters.from_directory import from_directory
from splp.adapters.grants import DirectoryGrants
from splp.adapters.runtime import Adapter, Handler
from splp.bus.descriptor import ServiceDescriptor, load_descriptor
from splp.bus.names import ServiceRef
from splp.errors import ConfigurationError
from splp.settings import Settings


class Service:
    """A service descriptor plus the handlers registered for its operations."""

    def __init__(self, descriptor: ServiceDescriptor) -> None:
        self.descriptor = descriptor
        self.handlers: dict[str, Handler] = {}
        self.grants: DirectoryGrants | None = None

    @classmethod
    def from_file(cls, path: str | Path) -> Service:
        """A service described by a local file: only the broker checks callers."""
        return cls(load_descriptor(path))

    @classmethod
    async def from_directory(cls, service: ServiceRef | str, settings: Settings) -> Service:
        """A service whose descriptor and grants come from the directory (``SPLP_TOKEN``).

        Its adapter admits only callers with a grant in force, at their quota.
        """
        descriptor, grants = await from_directory(service, settings)
        instance = cls(descriptor)
        instance.grants = grants
        return instance

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
        if self.grants is not None:
            options.setdefault("grants", self.grants)
        return Adapter(self.descriptor, self.handlers, settings, **options)
