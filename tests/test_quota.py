"""The token bucket behind grant quotas, on an explicit clock (no timing in the test)."""

from __future__ import annotations

import pytest

from splp.adapters.quota import TokenBuckets


def test_a_quota_admits_a_burst_then_its_rate() -> None:
    buckets = TokenBuckets()
    assert [buckets.take("dinsos", 60, now=100.0) for _ in range(60)] == [0.0] * 60
    assert buckets.take("dinsos", 60, now=100.0) == pytest.approx(1.0)  # 60 a minute: 1 s
    assert buckets.take("dinsos", 60, now=100.5) == pytest.approx(0.5)
    assert buckets.take("dinsos", 60, now=101.0) == 0.0  # refilled one token
    assert buckets.take("dinsos", 60, now=101.0) > 0
    # over a minute at exactly the quota's rate, every call is admitted
    assert all(buckets.take("dinsos", 60, now=102.0 + i) == 0.0 for i in range(60))


def test_requesters_have_buckets_of_their_own() -> None:
    buckets = TokenBuckets()
    assert buckets.take("dinsos", 1, now=0.0) == 0.0
    assert buckets.take("dinsos", 1, now=0.0) == pytest.approx(60.0)
    assert buckets.take("bapenda", 1, now=0.0) == 0.0


def test_the_bucket_never_holds_more_than_the_quota() -> None:
    buckets = TokenBuckets()
    buckets.take("dinsos", 5, now=0.0)
    admitted = [buckets.take("dinsos", 5, now=3600.0) for _ in range(6)]
    assert admitted[:5] == [0.0] * 5 and admitted[5] > 0
