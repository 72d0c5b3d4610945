"""The metrics every component shares: a registry per component, and the ``/metrics`` port
of the processes without an HTTP app, which is closed when they stop."""

from __future__ import annotations

import httpx
import pytest

from splp.adapters.metrics import AdapterMetrics
from splp.audit.metrics import SinkMetrics
from splp.http_server import free_port
from splp.metrics import MetricsServer


def test_two_adapters_in_one_process_count_apart() -> None:
    first, second = AdapterMetrics("uji.a.v1"), AdapterMetrics("uji.a.v1")
    first.answered("echo", 200, "response", 0.002)
    first.answered("echo", 200, "response", 0.3)
    second.dropped("expired")
    labels = {"kind": "response", "operation": "echo", "service": "uji.a.v1", "status": "200"}
    assert first.value("splp_adapter_requests_total", **labels) == 2
    assert second.value("splp_adapter_requests_total", **labels) is None
    assert first.value("splp_adapter_dropped_total", reason="expired", service="uji.a.v1") is None
    assert second.value("splp_adapter_dropped_total", reason="expired", service="uji.a.v1") == 1
    seconds = {"operation": "echo", "service": "uji.a.v1"}
    assert first.value("splp_adapter_request_seconds_bucket", le="0.0025", **seconds) == 1
    assert first.value("splp_adapter_request_seconds_bucket", le="+Inf", **seconds) == 2


def test_an_answer_without_an_operation_is_counted_under_a_dash() -> None:
    metrics = AdapterMetrics("uji.a.v1")
    metrics.answered(None, 404, "response", 0.001)
    labels = {"kind": "response", "operation": "-", "service": "uji.a.v1", "status": "404"}
    assert metrics.value("splp_adapter_requests_total", **labels) == 1


def test_the_sink_counts_duplicates_flags_and_lag() -> None:
    metrics = SinkMetrics()
    events = [({"time": "2020-01-01T00:00:00+00:00"}, None), ({"time": "x"}, "schema")]
    metrics.observe_commit(0.01, events, stored=1)
    assert metrics.value("splp_audit_sink_stored_events_total") == 1
    assert metrics.value("splp_audit_sink_duplicate_events_total") == 1
    assert metrics.value("splp_audit_sink_flagged_events_total") == 1
    assert metrics.value("splp_audit_sink_commit_seconds_count") == 1
    assert metrics.value("splp_audit_sink_lag_seconds") == 0  # "x" is no time: lag unchanged
    metrics.observe_commit(0.01, events[:1], stored=1)
    lag = metrics.value("splp_audit_sink_lag_seconds")
    assert lag is not None and lag > 365 * 24 * 3600


async def test_the_metrics_port_answers_metrics_only_and_is_closed_on_close() -> None:
    metrics = SinkMetrics()
    metrics.received.inc(7)
    port = free_port()
    server = MetricsServer(metrics.registry, "127.0.0.1", port)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            response = await http.get(f"{url}/metrics")
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
            assert "\nsplp_audit_sink_received_events_total 7.0\n" in response.text
            assert (await http.get(f"{url}/")).status_code == 404
            assert (await http.get(f"{url}/metrics/x")).status_code == 404
    finally:
        await server.close()
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"{url}/metrics")
