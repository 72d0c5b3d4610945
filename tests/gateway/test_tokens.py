"""The gateway's access tokens: signed, short-lived, bound to the application's party."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from splp.gateway.tokens import AUDIENCE, InvalidToken, TokenIssuer

SECRET = b"a-regency-gateway-secret-of-32-bytes!"


def test_a_token_carries_its_application_and_party() -> None:
    issuer = TokenIssuer(SECRET, ttl=900)
    token, expires_in = issuer.issue("splp-app-1", "dinsos")
    claims = issuer.verify(token)
    assert (claims.client_id, claims.party, expires_in) == ("splp-app-1", "dinsos", 900)
    assert time.time() + 890 < claims.expires_at <= time.time() + 900


def test_tokens_differ_each_time() -> None:
    issuer = TokenIssuer(SECRET, ttl=900)
    assert issuer.issue("a", "dinsos")[0] != issuer.issue("a", "dinsos")[0]


def test_an_expired_token_is_refused_and_says_so() -> None:
    issuer = TokenIssuer(SECRET, ttl=900)
    key = issuer._key
    now = int(time.time())
    stale = jwt.encode(
        {"sub": "a", "party": "dinsos", "aud": AUDIENCE, "iat": now - 1000, "exp": now - 100},
        key,
        algorithm="HS256",
    )
    with pytest.raises(InvalidToken, match="expired"):
        issuer.verify(stale)


def test_a_token_of_another_secret_is_refused() -> None:
    other, _ = TokenIssuer(b"another-secret-that-is-long-enough!!", ttl=900).issue("a", "dinsos")
    with pytest.raises(InvalidToken, match="not valid"):
        TokenIssuer(SECRET, ttl=900).verify(other)


def test_an_edited_token_is_refused() -> None:
    issuer = TokenIssuer(SECRET, ttl=900)
    token, _ = issuer.issue("a", "dinsos")
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["party"] = "dukcapil"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidToken):
        issuer.verify(f"{header}.{forged}.{signature}")


@pytest.mark.parametrize(
    "token",
    ["", "not-a-jwt", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0."],
)
def test_garbage_and_unsigned_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        TokenIssuer(SECRET, ttl=900).verify(token)


def test_a_token_without_a_party_is_refused() -> None:
    issuer = TokenIssuer(SECRET, ttl=900)
    now = int(time.time())
    token = jwt.encode(
        {"sub": "a", "aud": AUDIENCE, "exp": now + 60}, issuer._key, algorithm="HS256"
    )
    with pytest.raises(InvalidToken):
        issuer.verify(token)


def test_a_remembered_token_still_expires() -> None:
    """The verified-token memory never outlives a token's own expiry."""
    issuer = TokenIssuer(SECRET, ttl=900)
    token, _ = issuer.issue("a", "dinsos")
    claims = issuer.verify(token)
    assert issuer.verify(token) is claims  # remembered
    issuer._verified[token] = type(claims)(claims.client_id, claims.party, time.time() - 1)
    assert issuer.verify(token).expires_at > time.time()  # decoded again, not the stale copy
    now = int(time.time())
    stale = jwt.encode(
        {"sub": "a", "party": "dinsos", "aud": AUDIENCE, "iat": now - 1000, "exp": now - 100},
        issuer._key,
        algorithm="HS256",
    )
    issuer._verified[stale] = type(claims)("a", "dinsos", now - 100)
    with pytest.raises(InvalidToken, match="expired"):
        issuer.verify(stale)
    assert stale not in issuer._verified


def test_the_memory_of_verified_tokens_is_bounded() -> None:
    from splp.gateway.tokens import VERIFIED_CACHE

    issuer = TokenIssuer(SECRET, ttl=900)
    for n in range(VERIFIED_CACHE + 10):
        issuer.verify(issuer.issue(f"app-{n}", "dinsos")[0])
    assert len(issuer._verified) == VERIFIED_CACHE
