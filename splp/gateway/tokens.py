"""The gateway's access tokens: signed JWTs (RFC 7519, HS256), short-lived.

They are signed, not opaque, so that every gateway replica verifies them alone, with no
shared token store. The signing key is derived from ``SPLP_GATEWAY_SECRET``
(:func:`splp.bus.gateway_identity.derive`). A token names its application (``sub``, the
client id) and its party; revoking the application stops its tokens at the next refresh
of the gateway's copy of the credentials, before they expire.

>>> issuer = TokenIssuer(b"0123456789abcdef0123456789abcdef", ttl=900)
>>> token, expires_in = issuer.issue("splp-app-abc", "dinsos")
>>> issuer.verify(token).party, expires_in
('dinsos', 900)
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import jwt

from splp.bus.gateway_identity import derive
from splp.errors import SplpError

ALGORITHM = "HS256"
AUDIENCE = "splp-gateway"
VERIFIED_CACHE = 4096
"""Tokens remembered once verified (an application sends the same token for its whole
lifetime): checking a signature on every call cost the gateway ~0.3 ms of CPU a call."""


class InvalidToken(SplpError):
    """A token that is malformed, forged or expired (fault 900901)."""


@dataclass(frozen=True, slots=True)
class Claims:
    client_id: str
    party: str
    expires_at: float


class TokenIssuer:
    """Issues and verifies the gateway's bearer tokens."""

    def __init__(self, secret: bytes, ttl: float) -> None:
        self._key = derive(secret, "token-signing")
        self.ttl = int(ttl)
        self._verified: OrderedDict[str, Claims] = OrderedDict()

    def issue(self, client_id: str, party: str) -> tuple[str, int]:
        """A new token for ``client_id`` of ``party``, and its lifetime in seconds."""
        now = int(time.time())
        claims = {
            "sub": client_id,
            "party": party,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + self.ttl,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM), self.ttl

    def verify(self, token: str) -> Claims:
        """The claims of a valid token; :class:`InvalidToken` otherwise (never says why in
        a way that helps a forger: expired tokens are told apart, nothing else).

        A token verified before is taken from memory until it expires: the string is
        signed, so the same string always carries the same claims."""
        known = self._verified.get(token)
        if known is not None:
            if known.expires_at > time.time():
                self._verified.move_to_end(token)
                return known
            del self._verified[token]
        claims = self._decode(token)
        self._verified[token] = claims
        if len(self._verified) > VERIFIED_CACHE:
            self._verified.popitem(last=False)
        return claims

    def _decode(self, token: str) -> Claims:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                options={"require": ["sub", "party", "exp", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the access token has expired: get a new one") from None
        except jwt.PyJWTError:
            raise InvalidToken("the access token is not valid") from None
        client_id, party = claims.get("sub"), claims.get("party")
        if not isinstance(client_id, str) or not isinstance(party, str):
            raise InvalidToken("the access token is not valid")
        return Claims(client_id, party, float(claims["exp"]))
