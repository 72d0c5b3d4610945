"""The audit trail: a hash-chained store of audit events, its sink, verification and reports.

>>> from splp.audit import AuditStore, verify
>>> verdict = await verify(AuditStore("sqlite+aiosqlite:///splp.db"))  # doctest: +SKIP
>>> verdict.ok                                                          # doctest: +SKIP
True
"""

from __future__ import annotations

from splp.audit.chain import GENESIS, record_hash
from splp.audit.metrics import SinkMetrics
from splp.audit.records import AuditRecord
from splp.audit.screen import screen
from splp.audit.sink import AuditSink
from splp.audit.store import AuditStore
from splp.audit.verify import Verdict, verify

__all__ = [
    "GENESIS",
    "AuditRecord",
    "AuditSink",
    "AuditStore",
    "SinkMetrics",
    "Verdict",
    "record_hash",
    "screen",
    "verify",
]
