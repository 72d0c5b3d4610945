"""The audit store's settings: the directory's database unless told otherwise."""

from __future__ import annotations

import os

from pydantic import Field

from splp.settings import Settings


class AuditSettings(Settings):
    """:class:`~splp.settings.Settings` plus ``SPLP_AUDIT_DATABASE_URL``.

    >>> AuditSettings(database_url="sqlite+aiosqlite:///d.db").audit_store_url
    'sqlite+aiosqlite:///d.db'

    Broker events come from the event exchange's vhost, whatever the bus's vhost is:

    >>> s = AuditSettings(vhost="splp")
    >>> s.broker_url, s.broker_events_url
    ('amqp://guest:guest@127.0.0.1:5672/splp', 'amqp://guest:guest@127.0.0.1:5672/%2F')
    """

    audit_database_url: str | None = Field(
        default=None, description="The audit store; by default the directory's database."
    )

    broker_events_vhost: str | None = Field(
        default="/",
        description="The vhost where rabbitmq_event_exchange publishes (its "
        "rabbitmq_event_exchange.vhost); empty: do not record broker events.",
    )

    @property
    def broker_events_url(self) -> str | None:
        """The broker URL of the event exchange's vhost, or ``None`` when not recorded."""
        if not self.broker_events_vhost:
            return None
        return self.model_copy(update={"vhost": self.broker_events_vhost}).broker_url

    @property
    def audit_store_url(self) -> str:
        return self.audit_database_url or self.database_url


def audit_store_url(settings: Settings) -> str:
    """The audit store of a process configured by ``settings`` (``SPLP_AUDIT_DATABASE_URL``,
    else the directory's database)."""
    if isinstance(settings, AuditSettings):
        return settings.audit_store_url
    return os.environ.get("SPLP_AUDIT_DATABASE_URL") or settings.database_url
