"""Configuration: one pydantic-settings class, read from ``SPLP_*`` environment variables.

The CLI reuses the same names as ``envvar=`` so ``SPLP_AMQP_URL`` works everywhere.

The URLs that may carry a password (:data:`SECRET_URLS`) are :class:`SecretUrl`: plain
strings to every caller, masked in ``repr`` (so in a logged or printed ``Settings``).
Each may also come from a file named by ``SPLP_<NAME>_FILE`` (systemd credentials,
Docker or Kubernetes secrets), so that no password need be on a command line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from pydantic import AfterValidator, Field, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

DEFAULT_MAX_BODY = 1024 * 1024

SECRET_URLS = ("amqp_url", "management_url", "database_url", "audit_database_url")
"""The settings whose URL may hold a password."""


def mask_password(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***``.

    >>> mask_password("amqp://dinsos:rahasia@bus:5672/splp")
    'amqp://dinsos:***@bus:5672/splp'
    """
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # not a URL at all: show nothing of it
        return "***"
    if not password:
        return url
    user, _, host = parts.netloc.rpartition("@")
    name = user.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{name}:***@{host}"))


class SecretUrl(str):
    """A URL that may hold a password: a ``str`` wherever it is used, masked in ``repr``.

    >>> url = SecretUrl("amqp://dinsos:rahasia@bus:5672/")
    >>> url, url == "amqp://dinsos:rahasia@bus:5672/"
    ('amqp://dinsos:***@bus:5672/', True)
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(mask_password(str(self)))


MaskedUrl = Annotated[str, AfterValidator(SecretUrl)]
"""The type of a :data:`SECRET_URLS` setting: a ``str`` to callers and to mypy, held as a
:class:`SecretUrl`."""


class _UrlFiles(PydanticBaseSettingsSource):
    """``SPLP_<NAME>_FILE``: the file holding the URL of a :data:`SECRET_URLS` setting."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # all the work is in __call__

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name in SECRET_URLS:
            variable = f"SPLP_{name.upper()}"
            path = os.environ.get(f"{variable}_FILE")
            if not path:
                continue
            if os.environ.get(variable):
                raise ValueError(f"both {variable} and {variable}_FILE are set: give one")
            try:
                found[name] = Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"cannot read {variable}_FILE {path}: {exc.strerror}") from None
        return found


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

    amqp_url: MaskedUrl = Field(
        default=SecretUrl("amqp://guest:guest@127.0.0.1:5672/"),
        description="Broker URL; its path, when not empty or `/`, is the vhost "
        "(percent-encoded), and a different `vhost` setting is an error.",
    )
    amqp_urls: str = Field(
        default="",
        description="The nodes of a RabbitMQ cluster, comma-separated (`host:port` or "
        "`amqp[s]://host:port`): clients connect to the first that answers and fail over to "
        "the others, with SPLP_AMQP_URL's credentials and vhost. Empty: SPLP_AMQP_URL's host "
        "only. With several, queue_type defaults to `quorum`. SPLP_MANAGEMENT_URL may "
        "likewise list the nodes' management APIs, comma-separated.",
    )
    vhost: str = Field(
        default="splp",
        description="RabbitMQ virtual host of the bus, when the URL's path names none.",
    )
    management_url: MaskedUrl = Field(
        default=SecretUrl("http://guest:guest@127.0.0.1:15672"),
        description="RabbitMQ management API, used by set-up, tests and the reconciler.",
    )
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY, gt=0)
    schema_max_bytes: int = Field(
        default=256 * 1024,
        gt=0,
        description="Largest operation schema (request or response, as compact JSON) the "
        "directory accepts in a published descriptor.",
    )
    schema_max_depth: int = Field(
        default=64,
        gt=0,
        le=500,
        description="Deepest nesting of objects and arrays in one operation schema that the "
        "directory accepts in a published descriptor.",
    )
    default_timeout: float = Field(default=10.0, gt=0)
    database_url: MaskedUrl = Field(default=SecretUrl("sqlite+aiosqlite:///splp.db"))
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
    quota_url: SecretStr | None = Field(
        default=None,
        description="Redis URL (`redis://HOST:6379/0`) of the token buckets that every "
        "replica of an adapter shares, so a grant's quota holds across replicas; unset, "
        "each replica counts alone.",
    )
    quota_timeout: float = Field(
        default=0.25,
        gt=0,
        description="Seconds an adapter waits for the quota store before it falls back to "
        "its share of the quota (the quota divided by the replicas).",
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
        description="Grants that expire within this many days are listed for re-certification, "
        "and their holders and publishers told (see `recertify_interval`).",
    )
    recertify_interval: float = Field(
        default=86400.0,
        ge=0,
        description="Seconds between two passes of the directory process that tell the holders "
        "and publishers of the grants ending within `recertify_days` to re-certify them (an "
        "`access.recertify` audit event, and e-mail with `smtp_url`), once per grant and "
        "expiry date; 0: only `splp access expiring --notify` tells them.",
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
    audit_database_url: MaskedUrl | None = Field(
        default=None, description="The audit store; by default the directory's database."
    )
    audit_buffer: int = Field(
        default=100_000,
        ge=1,
        description="Audit events an adapter or the directory keeps while the broker has not "
        "confirmed them; beyond it they are dropped (counted in "
        "`splp_audit_events_dropped_total`) unless `audit_fail_closed`.",
    )
    audit_fail_closed: bool = Field(
        default=False,
        description="When an adapter's audit buffer is full, stop taking requests (they "
        "wait in the queue) instead of dropping audit events.",
    )
    broker_events_vhost: str | None = Field(
        default="/",
        description="The vhost where rabbitmq_event_exchange publishes (its "
        "rabbitmq_event_exchange.vhost); empty: do not record broker events.",
    )
    audit_directory_user: str | None = Field(
        default=None,
        description="The directory's broker user: the audit sink accepts `access.*`, "
        "`admin.*` and `broker.*` events only from it (default: the user of `amqp_url`).",
    )
    audit_trusted_senders: str = Field(
        default="",
        description="Comma-separated broker users whose audit events the sink accepts for "
        "any kind and any publisher (default: none; adapter events must come from the "
        "publisher's own broker user).",
    )
    audit_signing_key_file: Path | None = Field(
        default=None,
        description="The audit sink's Ed25519 private key (PEM, written 0600 by `splp "
        "audit keygen`, or by the sink on its first start when missing); it signs anchors "
        "and exports. Unset: no anchors.",
    )
    audit_anchor_every: int = Field(
        default=1000, ge=1, description="The sink signs its head after this many records..."
    )
    audit_anchor_minutes: float = Field(
        default=10.0, gt=0, description="...or after this many minutes with new records."
    )
    audit_anchor_file: Path | None = Field(
        default=None,
        description="A file outside the database where the sink also appends each anchor "
        "(one JSON object per line).",
    )

    attachment_max_bytes: int = Field(
        default=5 * 1024 * 1024,
        gt=0,
        description="Largest document (PDF) a requester may attach to an access request.",
    )
    smtp_url: SecretStr | None = Field(
        default=None,
        description="SMTP server for the access procedure's notifications, e.g. "
        "`smtp://user:password@mail.kab.go.id:587` (`smtps://` for implicit TLS); unset: none "
        "are sent.",
    )
    mail_from: str = Field(
        default="SPLP <splp@localhost>", description="The From of the notifications."
    )
    misuse_rules: Path | None = Field(
        default=None,
        description="JSON or YAML file of the misuse rules the directory process evaluates "
        "over the audit store (see docs/admin-guide.md); unset: no misuse detection.",
    )
    misuse_interval: float = Field(
        default=60.0,
        gt=0,
        description="Seconds between two evaluations of the misuse rules.",
    )
    misuse_webhook_url: SecretStr | None = Field(
        default=None,
        description="Where each misuse hit is POSTed as JSON, for the administrators' alerting "
        "(e.g. a chat or ticket system); unset: no webhook (e-mail still goes out with "
        "`smtp_url`).",
    )
    health_interval: float = Field(
        default=0.0,
        ge=0,
        description="Seconds between two health probes of every published service by the "
        "directory process (queue consumers, and the `health` operation when the descriptor "
        "has one); 0: no probes.",
    )
    health_timeout: float = Field(
        default=5.0, gt=0, description="Seconds a probe waits for a `health` answer."
    )
    rotation_days: int = Field(
        default=180,
        ge=1,
        description="The supervision report's policy: broker passwords and API tokens older "
        "than this many days are due for rotation.",
    )
    portal_url: str | None = Field(
        default=None,
        description="The portal's public address, for links in notifications; default: "
        "`directory_url`.",
    )
    session_ttl: float = Field(
        default=8 * 3600.0,
        gt=0,
        description="Seconds a person stays signed in to the portal after logging in.",
    )
    setup_link_ttl: float = Field(
        default=72 * 3600.0,
        gt=0,
        description="Seconds a one-time set-password link of a new or reset account is valid.",
    )
    login_slow_after: int = Field(
        default=3,
        ge=1,
        description="Failed logins in a row after which each further attempt is slowed.",
    )
    login_lock_after: int = Field(
        default=10,
        ge=1,
        description="Failed logins in a row after which the account is locked (and audited).",
    )
    login_lock_seconds: float = Field(
        default=900.0, gt=0, description="How long a locked account stays locked."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Given values, then ``SPLP_*`` variables, then the files of ``SPLP_*_FILE``."""
        return (
            init_settings,
            env_settings,
            _UrlFiles(settings_cls),
            dotenv_settings,
            file_secret_settings,
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
        if len(self.broker_urls) > 1 and "queue_type" not in self.model_fields_set:
            self.queue_type = "quorum"  # a cluster: queues that survive the loss of a node
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
    def broker_urls(self) -> list[str]:
        """Every broker address, in the order to try: ``broker_url`` on each ``amqp_urls`` node.

        Credentials and vhost come from ``amqp_url`` only, so the list holds no secret:

        >>> s = Settings(amqp_url="amqp://a:pw@lb/splp", amqp_urls="n1:5701, amqps://n2:5702")
        >>> s.broker_urls
        ['amqp://a:pw@n1:5701/splp', 'amqps://a:pw@n2:5702/splp']
        >>> s.queue_type, Settings().broker_urls, Settings().queue_type
        ('quorum', ['amqp://guest:guest@127.0.0.1:5672/splp'], 'classic')
        """
        base = urlsplit(self.broker_url)
        credentials = base.netloc.rpartition("@")[0]
        urls = []
        for entry in filter(None, (e.strip() for e in self.amqp_urls.split(","))):
            if "@" in entry:  # not repeated in the message: it may hold a password
                raise ValueError(
                    "SPLP_AMQP_URLS: an entry holds credentials; give them once, in "
                    "SPLP_AMQP_URL (the list is host:port or amqp[s]://host:port)"
                )
            node = urlsplit(entry if "://" in entry else f"{base.scheme}://{entry}")
            try:
                valid = node.scheme in ("amqp", "amqps") and bool(node.hostname)
                _ = node.port  # raises on a port that is not a number
            except ValueError:
                valid = False
            if not valid:
                raise ValueError(
                    f"SPLP_AMQP_URLS: {entry!r} is not host:port or amqp[s]://host:port"
                )
            if node.path.strip("/") or node.query:
                raise ValueError(f"SPLP_AMQP_URLS: {entry!r} names a vhost or options")
            netloc = f"{credentials}@{node.netloc}" if credentials else node.netloc
            urls.append(urlunsplit(base._replace(scheme=node.scheme, netloc=netloc)))
        return urls or [self.broker_url]

    @property
    def audit_store_url(self) -> str:
        """``audit_database_url``, else the directory's ``database_url``.

        >>> s = Settings(database_url="sqlite+aiosqlite:///d.db", audit_database_url=None)
        >>> s.audit_store_url
        'sqlite+aiosqlite:///d.db'
        """
        return self.audit_database_url or self.database_url

    @property
    def audit_trusted_sender_list(self) -> list[str]:
        """``audit_trusted_senders`` as a list.

        >>> Settings(audit_trusted_senders="guest, ops").audit_trusted_sender_list
        ['guest', 'ops']
        """
        return [name.strip() for name in self.audit_trusted_senders.split(",") if name.strip()]

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
