"""The backend authentication profiles of the HTTP adapter's config (``auth:``,
``backend_credentials:``); :mod:`splp.adapters.backend_auth` puts them to work.

A secret is never written in the config itself: it is ``${VAR}`` (the environment) or a
``*_file`` key naming a file whose whole content is the secret.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"


def _secret_reference(value: str | None) -> str | None:
    """A secret in the config is ``${VAR}``; the message never repeats what was written."""
    if value is not None and not _ENV.fullmatch(value):
        raise ValueError("must be ${VAR} (read from the environment), or use the *_file key")
    return value


def _one_of(value: object, file: object, name: str) -> None:
    if (value is None) == (file is None):
        raise ValueError(f"give exactly one of {name} and {name}_file")


class OAuth2ClientCredentials(BaseModel):
    """A bearer token from an OAuth2 token endpoint (RFC 6749 §4.4), cached and renewed."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["oauth2_client_credentials"]
    token_url: str = Field(pattern=r"^https?://")
    client_id: str | None = Field(default=None, min_length=1, description="${VAR} or as is")
    client_id_file: Path | None = None
    client_secret: str | None = Field(default=None, description="${VAR}")
    client_secret_file: Path | None = None
    scope: str | None = Field(default=None, pattern=r"^[\x21\x23-\x5b\x5d-\x7e ]+$")
    credentials_in: Literal["basic", "body"] = Field(
        default="basic", description="HTTP Basic (default) or the form body"
    )
    header: str = Field(default="Authorization", pattern=_HEADER_NAME)
    refresh_at: float = Field(
        default=0.8, ge=0.5, le=0.95, description="renewed after this share of expires_in"
    )
    timeout: float | None = Field(default=None, gt=0, le=300)

    @field_validator("client_secret")
    @classmethod
    def _reference(cls, value: str | None) -> str | None:
        return _secret_reference(value)

    @model_validator(mode="after")
    def _sources(self) -> OAuth2ClientCredentials:
        _one_of(self.client_id, self.client_id_file, "client_id")
        _one_of(self.client_secret, self.client_secret_file, "client_secret")
        return self


class ApiKey(BaseModel):
    """A fixed key in a header of its own (``apikey`` by default), sent as is."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["api_key"]
    header: str = Field(default="apikey", pattern=_HEADER_NAME)
    key: str | None = Field(default=None, description="${VAR}")
    key_file: Path | None = None

    @field_validator("key")
    @classmethod
    def _reference(cls, value: str | None) -> str | None:
        return _secret_reference(value)

    @model_validator(mode="after")
    def _sources(self) -> ApiKey:
        _one_of(self.key, self.key_file, "key")
        return self


class BackendCredentials(BaseModel):
    """A second header for a backend that wants its own credentials behind the gateway."""

    model_config = ConfigDict(extra="forbid")

    header: str = Field(pattern=_HEADER_NAME)
    value: str | None = Field(default=None, description="text with at least one ${VAR}")
    value_file: Path | None = None

    @field_validator("value")
    @classmethod
    def _has_reference(cls, value: str | None) -> str | None:
        if value is not None and not _ENV.search(value):
            raise ValueError("must take its secret from ${VAR}, or use value_file")
        return value

    @model_validator(mode="after")
    def _sources(self) -> BackendCredentials:
        _one_of(self.value, self.value_file, "value")
        return self
