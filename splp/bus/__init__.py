"""The bus: wire contract, topology names and the requester SDK.

>>> from splp.bus import Client
>>> async with Client() as client:  # doctest: +SKIP
...     resident = await client.call("kependudukan", "dukcapil.penduduk.v1", "get-by-nik",
...                                  {"nik": "1508010101900001"}, timeout=5)

The names below are imported when first used, so that a process that needs one part of
the bus (the audit sink needs the audit emitter's decoder, the CLI the naming rules)
does not load the requester SDK, its HTTP client and the JSON Schema libraries.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from splp.bus.client import Client
    from splp.bus.descriptor import ServiceDescriptor, load_descriptor
    from splp.bus.names import ServiceRef, queue_for, routing_key_for, theme_exchange
    from splp.bus.sync import SyncClient
    from splp.bus.topology import ServiceBinding, Topology, declare, topology_for
    from splp.bus.wire import PROTOCOL_VERSION, Problem, Request

_HOMES = {
    "PROTOCOL_VERSION": "wire",
    "Client": "client",
    "Problem": "wire",
    "Request": "wire",
    "ServiceBinding": "topology",
    "ServiceDescriptor": "descriptor",
    "ServiceRef": "names",
    "SyncClient": "sync",
    "Topology": "topology",
    "declare": "topology",
    "load_descriptor": "descriptor",
    "queue_for": "names",
    "routing_key_for": "names",
    "theme_exchange": "names",
    "topology_for": "topology",
}

__all__ = [
    "PROTOCOL_VERSION",
    "Client",
    "Problem",
    "Request",
    "ServiceBinding",
    "ServiceDescriptor",
    "ServiceRef",
    "SyncClient",
    "Topology",
    "declare",
    "load_descriptor",
    "queue_for",
    "routing_key_for",
    "theme_exchange",
    "topology_for",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'splp.bus' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"splp.bus.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
