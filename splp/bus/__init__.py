"""The bus: wire contract, topology names and the requester SDK.

>>> from splp.bus import Client
>>> async with Client() as client:  # doctest: +SKIP
...     resident = await client.call("kependudukan", "dukcapil.penduduk.v1", "get-by-nik",
...                                  {"nik": "1508010101900001"}, timeout=5)
"""

from __future__ import annotations

from splp.bus.client import Client
from splp.bus.descriptor import ServiceDescriptor, load_descriptor
from splp.bus.names import ServiceRef, queue_for, routing_key_for, theme_exchange
from splp.bus.sync import SyncClient
from splp.bus.topology import ServiceBinding, Topology, declare, topology_for
from splp.bus.wire import PROTOCOL_VERSION, Problem, Request

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
