"""Prometheus metrics through ``prometheus_client``: what the adapters, the audit sink and
the directory share.

Each component keeps its collectors in a :class:`~prometheus_client.CollectorRegistry` of
its own, never the process-wide default one, so that several adapters or sinks in one
process (an agency's application, the tests) count apart. :class:`MetricsServer` answers
``GET /metrics`` on a port of its own for the processes without an HTTP app.

>>> from prometheus_client import Counter
>>> metrics = Metrics()
>>> Counter("splp_x", "x", registry=metrics.registry).inc(2)
>>> metrics.value("splp_x_total")
2.0
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from wsgiref.simple_server import WSGIServer
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from prometheus_client import CollectorRegistry, generate_latest, start_http_server

from splp.retry import RESTARTS

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """A component's own registry; subclasses add their collectors to :attr:`registry`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # process-wide: the restarts of every background loop (splp.retry.keep_running)
        self.registry.register(RESTARTS)

    def render(self) -> str:
        """The ``/metrics`` body, in the Prometheus text format."""
        return generate_latest(self.registry).decode()

    def value(self, name: str, **labels: str) -> float | None:
        """One sample's value (``None`` if there is none), e.g. ``value("x_total", a="b")``."""
        return self.registry.get_sample_value(name, labels)


class MetricsServer:
    """``GET /metrics`` of ``registry`` on ``host:port`` (404 on other paths), served by
    ``prometheus_client`` in a thread of its own; :meth:`close` stops it and frees the port.

    >>> server = MetricsServer(metrics.registry, "127.0.0.1", 9471)  # doctest: +SKIP
    >>> await server.close()  # doctest: +SKIP
    """

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self._server, self._thread = start_http_server(port, host, registry=registry)
        # prometheus_client answers every path; this port has always answered /metrics only.
        app = self._server.get_app()
        assert app is not None
        self._server.set_app(_only_metrics(app))

    async def close(self) -> None:
        """Stop serving and close the port (waits for the server's thread to end)."""
        await asyncio.to_thread(_shut_down, self._server, self._thread)


def _only_metrics(app: WSGIApplication) -> WSGIApplication:
    def answer(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/metrics":
            return app(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found\n"]

    return answer


def _shut_down(server: WSGIServer, thread: threading.Thread) -> None:
    server.shutdown()
    server.server_close()
    thread.join()
