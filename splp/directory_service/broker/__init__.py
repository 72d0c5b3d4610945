"""Broker enforcement (DESIGN section 4, first layer): the directory's parties and grants
become RabbitMQ users, vhost permissions and topic permissions, and the bus topology.

* :mod:`.desired` - what the store wants; :mod:`.actual` - what the broker has;
* :mod:`.plan` - the difference; :mod:`.apply` - the changes through the management API;
* :mod:`.reconciler` - :class:`BrokerReconciler`, run after changes, on a timer, by hand;
* :mod:`.patterns` - permission regexes from escaped names only;
* :mod:`.passwords` - broker passwords, kept only as RabbitMQ's salted hash.
"""

from __future__ import annotations

from splp.directory_service.broker.desired import BrokerNames, desired_state
from splp.directory_service.broker.passwords import new_password, password_hash
from splp.directory_service.broker.reconciler import BrokerReconciler, Drift, Status

__all__ = [
    "BrokerNames",
    "BrokerReconciler",
    "Drift",
    "Status",
    "desired_state",
    "new_password",
    "password_hash",
]
