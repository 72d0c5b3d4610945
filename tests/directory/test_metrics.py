"""``/metrics`` on the directory: requests counted by route template and status, their
latency in a histogram, in the Prometheus text format; no name from a path leaks."""

from __future__ import annotations

import re

from tests.directory.conftest import Api

LINE = re.compile(r"^(\w+)(?:\{(.*)\})? (\S+)$")


def parse(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    samples = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        match = LINE.match(line)
        assert match, line
        name, labels, value = match.groups()
        pairs = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels or ""))
        samples[name, pairs] = float(value)
    return samples


def requests(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], **labels: str) -> float:
    return samples.get(("splp_directory_requests_total", frozenset(labels.items())), 0.0)


async def test_requests_are_counted_by_route_and_status(api: Api) -> None:
    for _ in range(3):
        assert (await api.get("/me", headers=api.as_("dinsos"))).status_code == 200
    assert (await api.get("/parties", headers=api.as_("dinsos"))).status_code == 403
    assert (await api.get("/parties", headers=api.as_(None))).status_code == 401
    for name in ("dinsos", "dukcapil"):
        response = await api.get(f"/parties/{name}", headers=api.as_("admin"))
        assert response.status_code == 200
    assert (await api.get("/no/such/route")).status_code == 404

    response = await api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = parse(response.text)
    assert requests(samples, method="GET", route="/me", status="200") == 3
    assert requests(samples, method="GET", route="/parties", status="403") == 1
    assert requests(samples, method="GET", route="/parties", status="401") == 1
    assert requests(samples, method="GET", route="/parties/{name}", status="200") == 2
    assert requests(samples, method="GET", route="<unmatched>", status="404") == 1
    count = (
        "splp_directory_request_seconds_count",
        frozenset({("method", "GET"), ("route", "/me")}),
    )
    inf = (
        "splp_directory_request_seconds_bucket",
        frozenset({("method", "GET"), ("route", "/me"), ("le", "+Inf")}),
    )
    assert samples[count] == samples[inf] == 3
    assert "dinsos" not in response.text and "dukcapil" not in response.text


async def test_metrics_is_not_an_api_route(api: Api) -> None:
    assert "/metrics" not in api.app.openapi()["paths"]  # type: ignore[attr-defined]
    first = parse((await api.get("/metrics")).text)
    second = parse((await api.get("/metrics")).text)
    assert first == second  # scraping is not counted as a request
