"""The libraries agencies embed keep a small, deliberate public surface."""

from __future__ import annotations

import importlib

import pytest

EXPECTED = {
    "splp.bus": [
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
    ],
    "splp.bus.compat": ["breaking_changes", "check_version_bump", "version_key"],
    "splp.adapters": [
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
    ],
}


@pytest.mark.parametrize("module", sorted(EXPECTED))
def test_exported_names_are_exactly_these(module: str) -> None:
    imported = importlib.import_module(module)
    assert imported.__all__ == EXPECTED[module]
    for name in imported.__all__:
        assert getattr(imported, name) is not None


def test_the_bus_loads_its_parts_when_first_used() -> None:
    """``splp.bus`` resolves its names lazily: each has a home, and a process that only
    needs the naming rules does not load the requester SDK or its HTTP client."""
    import subprocess
    import sys

    import splp.bus

    assert set(splp.bus._HOMES) == set(splp.bus.__all__)
    code = (
        "import sys, splp.bus.names, splp.bus.audit_events\n"
        "print(sorted(m for m in ('httpx', 'jsonschema', 'splp.bus.client') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def test_a_python_adapter_does_not_load_the_agency_http_client() -> None:
    """``splp.adapters`` imports the HTTP adapter (and aiohttp) only when it is used."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from splp.adapters import Adapter, Service, HttpAdapterConfig\n"
        "print('aiohttp' in sys.modules)\n"
        "from splp.adapters import http_adapter\n"
        "print('aiohttp' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.split() == ["False", "True"]
