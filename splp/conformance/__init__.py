"""The conformance kit: check an SPLP client written in any language against the wire
protocol (``docs/wire-protocol.md`` §17), on a throw-away vhost of a real RabbitMQ.

* :func:`check_server` (``splp conformance serve -- COMMAND``) starts a server under
  test and calls it with the SDK's requester and with raw probes;
* :func:`check_caller` (``splp conformance call -- COMMAND``) serves with the SDK's
  adapter and runs a requester under test against it.

Both return a :class:`Checklist`: for each MUST, passed, failed (with what was seen) or
not observable from outside.
"""

from __future__ import annotations

from splp.conformance.caller import check_caller
from splp.conformance.checklist import Check, Checklist
from splp.conformance.server import check_server

__all__ = ["Check", "Checklist", "check_caller", "check_server"]
