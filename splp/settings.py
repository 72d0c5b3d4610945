"""Configuration: one pydantic-settings class, read from ``SPLP_*`` environment variables.

The CLI reuses the same names as ``envvar=`` so ``SPLP_AMQP_URL`` works everywhere.
"""

from __future__ import annotations

from functools import cached_property
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MAX_BODY = 1024 * 1024


class Settings(BaseSettings):
    """Settings shared by the SDKs, adapters, directory service and CLI.

    >>> Settings(amqp_url="amqp://dinsos:secret@127.0.0.1:5672/", vhost="splp").broker_url
    'amqp://dinsos:secret@127.0.0.1:5672/splp'
    """

    model_config = SettingsConfigDict(env_prefix="SPLP_", extra="ignore")

    amqp_url: str = Field(
        default="amqp://guest:guest@127.0.0.1:5672/",
        description="Broker URL; its path, if any, is ignored in favour of `vhost`.",
    )
    vhost: str = Field(default="splp", description="RabbitMQ virtual host of the bus.")
    management_url: str = Field(
        default="http://guest:guest@127.0.0.1:15672",
        description="RabbitMQ management API, used by set-up, tests and the reconciler.",
    )
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY, gt=0)
    default_timeout: float = Field(default=10.0, gt=0)
    database_url: str = Field(default="sqlite+aiosqlite:///splp.db")
    directory_url: str = Field(default="http://127.0.0.1:8470")

    @cached_property
    def broker_url(self) -> str:
        """``amqp_url`` with ``vhost`` as its path (percent-encoded)."""
        parts = urlsplit(self.amqp_url)
        return urlunsplit(parts._replace(path="/" + quote(self.vhost, safe="")))

    @cached_property
    def username(self) -> str:
        """The broker user; requests carry it as ``user_id``."""
        return unquote(urlsplit(self.amqp_url).username or "guest")
