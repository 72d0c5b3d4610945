"""Signed heads: the sink signs the chain's head every N records or M minutes.

Each anchor is a row of ``audit_anchors`` (``seq``, ``hash``, ``signed_at``, ``key_id``,
``public_key``, ``signature``: Ed25519 over :func:`splp.audit.chain.signed_head`), and, with
``SPLP_AUDIT_ANCHOR_FILE``, also one JSON line appended to that file, outside the database.
Someone who can rewrite the database can rewrite the chain from some record on and every
hash after it, but cannot sign its new head without the key, nor edit the anchors already
copied elsewhere; ``splp audit verify --file`` checks a bundle's anchors against its records.

>>> anchoring = Anchoring(store, SigningKey.load(path), every=1000, minutes=10)  # doctest: +SKIP
>>> await anchoring.after(stored=250)                                           # doctest: +SKIP
"""

from __future__ import annotations

import base64
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from splp.audit.chain import signed_head
from splp.audit.keys import SigningKey
from splp.audit.store import AuditStore
from splp.log import get_logger
from splp.settings import Settings

log = get_logger("audit.anchors")


def signed_anchor(key: SigningKey, seq: int, digest: str) -> dict[str, Any]:
    """An anchor of the head ``(seq, digest)``, signed now by ``key``."""
    return {
        "seq": seq,
        "hash": digest,
        "signed_at": datetime.now(UTC),
        "key_id": key.key_id,
        "public_key": key.public_base64,
        "signature": base64.b64encode(key.sign(signed_head(seq, digest))).decode(),
    }


class Anchoring:
    """Signs ``store``'s head when ``every`` records or ``minutes`` have passed since the
    last anchor (and the head moved)."""

    def __init__(
        self,
        store: AuditStore,
        key: SigningKey,
        *,
        every: int = 1000,
        minutes: float = 10.0,
        file: Path | None = None,
    ) -> None:
        self.store = store
        self.key = key
        self.every = every
        self.seconds = minutes * 60
        self.file = file
        self._pending = 0
        self._last = time.monotonic()
        self._signed_seq: int | None = None

    @classmethod
    def from_settings(cls, store: AuditStore, settings: Settings) -> Anchoring | None:
        """The anchoring the settings ask for, or ``None`` without a signing key file."""
        if settings.audit_signing_key_file is None:
            return None
        key = SigningKey.load(settings.audit_signing_key_file, create=True)
        return cls(
            store,
            key,
            every=settings.audit_anchor_every,
            minutes=settings.audit_anchor_minutes,
            file=settings.audit_anchor_file,
        )

    async def after(self, stored: int) -> dict[str, Any] | None:
        """Count ``stored`` new records; sign the head if it is time. The anchor, if any."""
        self._pending += stored
        due = self._pending >= self.every or (
            self._pending and time.monotonic() - self._last >= self.seconds
        )
        return await self.sign() if due else None

    async def sign(self) -> dict[str, Any] | None:
        """Sign the current head now (nothing if it was signed already or is empty)."""
        seq, digest = await self.store.head()
        self._pending, self._last = 0, time.monotonic()
        if seq == 0 or seq == self._signed_seq:
            return None
        anchor = signed_anchor(self.key, seq, digest)
        await self.store.add_anchor(anchor)
        self._signed_seq = seq
        if self.file is not None:
            self._append_to_file(anchor)
        log.info("signed the head %d", seq)
        return anchor

    def _append_to_file(self, anchor: dict[str, Any]) -> None:
        line = json.dumps(
            {**anchor, "signed_at": anchor["signed_at"].isoformat().replace("+00:00", "Z")},
            sort_keys=True,
        )
        assert self.file is not None
        try:
            fd = os.open(self.file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as file:
                file.write(line + "\n")
        except OSError as exc:
            # the anchor is in the database; the copy outside it is worth a loud warning
            log.error("could not append the anchor to %s: %s", self.file, exc.strerror)
