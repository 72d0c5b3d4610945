"""Configuration: one pydantic-settings class, read from ``SPLP_*`` environment variables.

The CLI reuses the same names as ``envvar=`` so ``SPLP_AMQP_URL`` works everywhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Self
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MAX_BODY = 1024 * 1024


class Settings(BaseSettings):
    """Settings shared by the SDKs, adapters, directory service and CLI.

    The broker URL names the vhost in its path, as every AMQP client reads it; without a
    path (or with ``/``) the vhost is ``SPLP_VHOST`` (default ``splp``):

    >>> Settings(amqp_url="amqp://dinsos:secret@127.0.0.1:5672/splp").vhost
    'splp'
    >>> Settings(amqp_url="amqp://dinsos:secret@127.0.0.1:5672/", vhost="uji").broker_url
    'amqp://dinsos:secret@127.0.0.1:5672/uji'
    """

    model_config = SettingsConfigDict(env_prefix="SPLP_", extra="ignore", hide_input_in_errors=True)

    amqp_url: str = Field(
        default="amqp://guest:guest@127.0.0.1:5672/",
        description="Broker URL; its path, when not empty or `/`, is the vhost "
        "(percent-encoded), and a different `vhost` setting is an error.",
    )
    vhost: str = Field(
        default="splp",
        description="RabbitMQ virtual host of the bus, when the URL's path names none.",
    )
    management_url: str = Field(
        default="http://guest:guest@127.0.0.1:15672",
        description="RabbitMQ management API, used by set-up, tests and the reconciler.",
    )
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY, gt=0)
    default_timeout: float = Field(default=10.0, gt=0)
    database_url: str = Field(default="sqlite+aiosqlite:///splp.db")
    directory_url: str = Field(default="http://127.0.0.1:8470")
    broker_reconcile: bool = Field(
        default=True, description="Whether the directory keeps broker users and permissions."
    )
    broker_sync_interval: float = Field(
        default=60.0, ge=0, description="Seconds between drift repairs in `directory serve`."
    )
    token: SecretStr | None = Field(
        default=None, description="The party's directory API token (SPLP_TOKEN)."
    )
    gateway_secret: SecretStr | None = Field(
        default=None,
        description="Shared by the HTTP gateway and the directory process: the gateway's "
        "broker passwords and its token signing key are derived from it. At least 32 "
        "characters; without it there is no gateway.",
        min_length=32,
    )
    gateway_token_ttl: float = Field(
        default=900.0, ge=60, le=86400, description="Seconds an access token of the gateway lasts."
    )
    gateway_refresh: float = Field(
        default=2.0,
        gt=0,
        le=5,
        description="Seconds between the gateway's reads of applications and grants: a "
        "revoked one stops working within this time.",
    )
    gateway_body_timeout: float = Field(
        default=10.0, gt=0, description="Seconds the gateway waits for a request's body."
    )
    gateway_own_check: bool = Field(
        default=True,
        description="Whether the gateway checks grants itself. For tests only: off, the "
        "broker and the adapter still refuse what is not granted.",
    )
    cache_dir: Path = Field(
        default_factory=lambda: (
            Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "splp"
        ),
        description="Where adapters and SDKs keep their last copy of descriptors and grants.",
    )
    broker_user_prefix: str = Field(
        default="",
        description="Prefix of the broker user names of parties: user `<prefix><party>`.",
    )
    queue_type: Literal["classic", "quorum"] = Field(
        default="classic",
        description="Type of the bus's durable queues (service queues, the audit sink's, the "
        "dead letters'): `quorum` replicates them across a RabbitMQ cluster.",
    )
    grants_refresh: float = Field(
        default=10.0, gt=0, description="Seconds between an adapter's fetches of its grants."
    )
    personal_grant_max_days: int = Field(
        default=365,
        gt=0,
        le=36500,
        description="Longest a grant to a `personal` or `sensitive` service may run, in days "
        "(UU 27/2022: access is re-certified at least this often).",
    )
    recertify_days: int = Field(
        default=30,
        gt=0,
        le=3650,
        description="Grants that expire within this many days are listed for re-certification.",
    )
    dead_letter_ttl: int = Field(
        default=600,
        gt=0,
        le=86400,
        description="Seconds that bodies of expired or undeliverable requests stay in "
        "`splp.dead-letters` (its `x-message-ttl`); they may hold personal data.",
    )
    tls_ca_file: Path | None = Field(
        default=None,
        description="CA bundle (PEM) that `amqps` brokers and `https` directories must chain "
        "to; default: the system's trust store. Verification is always on.",
    )
    tls_cert_file: Path | None = Field(
        default=None, description="Client certificate (PEM) for brokers that ask for one."
    )
    tls_key_file: Path | None = Field(
        default=None, description="Key of `tls_cert_file`, if not in the same file."
    )
    audit_database_url: str | None = Field(
        default=None, description="The audit store; by default the directory's database."
    )
    broker_events_vhost: str | None = Field(
        default="/",
        description="The vhost where rabbitmq_event_exchange publishes (its "
        "rabbitmq_event_exchange.vhost); empty: do not record broker events.",
    )

    @model_validator(mode="after")
    def _vhost_of_the_url(self) -> Self:
        named = unquote(urlsplit(self.amqp_url).path[1:])
        if named:
            if "vhost" not in self.model_fields_set:
                self.vhost = named
            elif named != self.vhost:
                raise ValueError(
                    f"SPLP_AMQP_URL names vhost {named!r} but SPLP_VHOST is {self.vhost!r}: "
                    "give the vhost once (the URL's path is what AMQP clients read)"
                )
        return self

    @property
    def broker_url(self) -> str:
        """``amqp_url`` with ``vhost`` as its path (percent-encoded).

        A property, not a cached one: ``model_copy`` copies cached values, and a copy with
        another vhost or URL must not keep its original's.

        >>> s = Settings(vhost="a")
        >>> s.broker_url, s.model_copy(update={"vhost": "b"}).broker_url
        ('amqp://guest:guest@127.0.0.1:5672/a', 'amqp://guest:guest@127.0.0.1:5672/b')
        """
        parts = urlsplit(self.amqp_url)
        return urlunsplit(parts._replace(path="/" + quote(self.vhost, safe="")))

    @property
    def audit_store_url(self) -> str:
        """``audit_database_url``, else the directory's ``database_url``.

        >>> s = Settings(database_url="sqlite+aiosqlite:///d.db", audit_database_url=None)
        >>> s.audit_store_url
        'sqlite+aiosqlite:///d.db'
        """
        return self.audit_database_url or self.database_url

    @property
    def broker_events_url(self) -> str | None:
        """The broker URL of the event exchange's vhost, or ``None`` when not recorded.

        Broker events come from the event exchange's vhost, whatever the bus's vhost is:

        >>> s = Settings(vhost="splp", broker_events_vhost="/")
        >>> s.broker_url, s.broker_events_url
        ('amqp://guest:guest@127.0.0.1:5672/splp', 'amqp://guest:guest@127.0.0.1:5672/%2F')
        """
        if not self.broker_events_vhost:
            return None
        return self.model_copy(update={"vhost": self.broker_events_vhost}).broker_url

    @property
    def username(self) -> str:
        """The broker user; requests carry it as ``user_id``."""
        return unquote(urlsplit(self.amqp_url).username or "guest")
