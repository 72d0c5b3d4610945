"""The configuration of the HTTP adapter (``splp adapter run adapter.yaml``).

::

    service: dukcapil.penduduk.v1      # descriptor and grants from the directory, or
    descriptor: penduduk.yaml          # a local descriptor file (no grant checks: development)
    base_url: http://127.0.0.1:8081    # the agency's own REST API
    timeout: 5                         # seconds, per call to the agency API
    prefetch: 64                       # requests handled at once (and connections to the API)
    max_response_bytes: 1048576        # larger answers are a 502; default SPLP_MAX_BODY_BYTES
    headers:                           # sent on every call; ${VAR} reads the environment
      Authorization: Bearer ${DUKCAPIL_API_TOKEN}
    operations:
      get-by-nik:
        method: GET
        path: /residents/{nik}         # {field} is filled from the request, URL-encoded
        query: [fields]                # request fields sent as query parameters
        body: false                    # send the remaining fields as a JSON body
        timeout: 3
        status: {409: 400}             # agency status -> splp-status, overriding the default
        idempotent: true               # retried once after a renewed token (default: GET,
                                       # HEAD, PUT, DELETE)

A national API behind an API manager adds a backend authentication profile
(:mod:`splp.adapters.backend_auth`) and, when its backend wants credentials of its own,
a second header::

    base_url: https://gw.splp.go.id/t/bungokab.go.id/dukcapil/1.0
    auth:
      type: oauth2_client_credentials  # or api_key (header, key / key_file)
      token_url: https://gw.splp.go.id/oauth2/token
      client_id: ${NATIONAL_CLIENT_ID}
      client_secret_file: /run/secrets/national-client-secret
      scope: dukcapil
      header: AuthorizationSPLP        # Authorization by default; always "Bearer TOKEN"
    backend_credentials:
      header: X-Backend-Authorization
      value: Basic ${DUKCAPIL_BACKEND_BASIC}

A secret is never written in the config itself: it is ``${VAR}`` (the environment) or a
``*_file`` (its whole content, read when the adapter is built).
"""

from __future__ import annotations

import os
import re
import string
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from splp.adapters.backend_auth_config import (
    ApiKey,
    BackendCredentials,
    OAuth2ClientCredentials,
)
from splp.bus.descriptor import ServiceDescriptor, load_descriptor
from splp.bus.names import ServiceRef
from splp.documents import read_document, validate_document
from splp.errors import ConfigurationError

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
REPLY_STATUSES = frozenset({200, 400, 403, 404, 408, 413, 429, 500, 502, 504})
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(value: str) -> str:
    """Replace ``${VAR}`` with the environment variable; an unset one is an error."""

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigurationError(f"environment variable {name} is not set")
        return os.environ[name]

    return _ENV.sub(lookup, value)


class HttpOperation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    path: str = Field(pattern=r"^/")
    query: list[str] = []
    body: bool | None = None
    headers: dict[str, str] = {}
    timeout: float | None = Field(default=None, gt=0, le=300)
    status: dict[int, int] = {}
    idempotent: bool | None = Field(
        default=None,
        description="retried once when the backend rejects a token that is then renewed; "
        "default: true for GET, HEAD, PUT, DELETE",
    )

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("status")
    @classmethod
    def _statuses(cls, value: dict[int, int]) -> dict[int, int]:
        for upstream, reply in value.items():
            if not 100 <= upstream <= 599:
                raise ValueError(f"{upstream} is not an HTTP status")
            if reply not in REPLY_STATUSES:
                raise ValueError(f"{reply} is not a splp-status ({sorted(REPLY_STATUSES)})")
        return value

    @property
    def path_fields(self) -> list[str]:
        return [f for _, f, _, _ in string.Formatter().parse(self.path) if f]

    @property
    def sends_body(self) -> bool:
        return self.body if self.body is not None else self.method in {"POST", "PUT", "PATCH"}

    @property
    def is_idempotent(self) -> bool:
        return self.idempotent if self.idempotent is not None else self.method in IDEMPOTENT_METHODS


class HttpAdapterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    descriptor: Path | None = Field(
        default=None, description="a local descriptor file (no grant checks: development)"
    )
    service: str | None = Field(
        default=None,
        description="PUBLISHER.SERVICE.vMAJOR, descriptor and grants from the directory",
    )
    base_url: str = Field(pattern=r"^https?://")
    ca_file: Path | None = Field(
        default=None,
        description="CA (PEM) that signed an https agency API's certificate, when it is not "
        "in the system's trust store; relative to the config file",
    )
    timeout: float = Field(default=10.0, gt=0, le=300)
    prefetch: int = Field(default=64, ge=1, le=10_000)
    max_response_bytes: int | None = Field(
        default=None,
        gt=0,
        description="the largest agency answer passed on (larger: 502); "
        "default SPLP_MAX_BODY_BYTES",
    )
    headers: dict[str, str] = {}
    auth: OAuth2ClientCredentials | ApiKey | None = Field(default=None, discriminator="type")
    backend_credentials: BackendCredentials | None = None
    operations: dict[str, HttpOperation]

    @model_validator(mode="after")
    def _paths(self) -> HttpAdapterConfig:
        if (self.descriptor is None) == (self.service is None):
            raise ValueError(
                "give exactly one of descriptor (a file) and service (from the directory)"
            )
        if self.service is not None:
            ServiceRef.parse(self.service)
        for name, op in self.operations.items():
            for f in op.path_fields:
                if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", f):
                    raise ValueError(f"operation {name}: bad path field {{{f}}}")
        if {".", ".."} & set(self.base_url.split("?")[0].split("/")[3:]):
            raise ValueError("base_url cannot have . or .. segments")
        self._credential_headers_are_apart()
        return self

    def _credential_headers_are_apart(self) -> None:
        """Each credential has its own header: none is set twice, or also under headers."""
        owners: dict[str, str] = {}
        if self.auth is not None:
            owners[self.auth.header.lower()] = "auth.header"
        if self.backend_credentials is not None:
            name = self.backend_credentials.header.lower()
            if name in owners:
                raise ValueError("backend_credentials.header is the same header as auth.header")
            owners[name] = "backend_credentials.header"
        fixed = [*self.headers, *(h for op in self.operations.values() for h in op.headers)]
        for header in fixed:
            if header.lower() in owners:
                raise ValueError(f"headers: {header} is already set by {owners[header.lower()]}")


def load_http_config(path: str | Path) -> tuple[HttpAdapterConfig, ServiceDescriptor | None]:
    """Read an adapter config and, when it names a local file, its descriptor.

    The descriptor is ``None`` when the config takes it from the directory (``service:``).
    """
    path = Path(path)
    config = validate_document(HttpAdapterConfig, read_document(path), str(path))
    if config.ca_file is not None and not config.ca_file.is_absolute():
        config.ca_file = path.parent / config.ca_file
    for part in (config.auth, config.backend_credentials):
        for key in ("client_id_file", "client_secret_file", "key_file", "value_file"):
            file = getattr(part, key, None)
            if file is not None and not file.is_absolute():
                setattr(part, key, path.parent / file)
    if config.descriptor is None:
        return config, None
    if not config.descriptor.is_absolute():
        config.descriptor = path.parent / config.descriptor
    descriptor = load_descriptor(config.descriptor)
    check_operations(config, descriptor, str(path))
    return config, descriptor


def check_operations(config: HttpAdapterConfig, descriptor: ServiceDescriptor, where: str) -> None:
    """The config must map exactly the descriptor's operations."""
    missing = sorted(set(descriptor.operations) - set(config.operations))
    unknown = sorted(set(config.operations) - set(descriptor.operations))
    if missing or unknown:
        raise ConfigurationError(
            f"{where}: operations do not match {descriptor.ref}: "
            f"missing {missing or 'none'}, unknown {unknown or 'none'}"
        )
