"""The words the control plane and its clients share: roles, access states, lifecycles.

Each list is written once, here, as a ``Literal`` type (for pydantic bodies and mypy) with
its tuple derived from it (for checks at run time and help texts). It sits below every
package, and imports nothing, so that the directory service, the CLI and the audit
reports all read the same words without pulling in the bus.

>>> ACCESS_STATES
('submitted', 'approved', 'rejected', 'granted', 'declined', 'revoked', 'suspended')
"""

from __future__ import annotations

from typing import Literal, get_args

Role = Literal["administrator", "publisher", "requester", "monitor", "gateway", "partner"]
"""The roles of a party (Bungo Pasal 6(6)), plus the read-only monitor, the HTTP gateway
(the gateway process's own party: it reads the applications' credentials and the grants)
and a partner regency (its broker user is the link user of docs/federation.md)."""
ROLES: tuple[Role, ...] = get_args(Role)

AccessState = Literal[
    "submitted", "approved", "rejected", "granted", "declined", "revoked", "suspended"
]
"""The states of an access request (Bungo Pasal 7): see ``splp.directory_service.workflow``."""
ACCESS_STATES: tuple[AccessState, ...] = get_args(AccessState)

Lifecycle = Literal["published", "deprecated", "retired"]
"""The lifecycle of a service version in the directory."""
LIFECYCLES: tuple[Lifecycle, ...] = get_args(Lifecycle)
