"""Request and response bodies of the directory API.

Request bodies are strict: unknown members are refused, names follow the naming rules
of the bus (:data:`splp.bus.names.NAME_PATTERN`), text has a length limit and no NUL character.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from splp.bus.names import NAME_PATTERN, SERVICE_REF_PATTERN
from splp.vocabulary import ROLES, Lifecycle, Role

TEXT_PATTERN = r"^[^\x00]*$"

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN, max_length=63)]
ServiceRefText = Annotated[str, StringConstraints(pattern=SERVICE_REF_PATTERN, max_length=140)]
Title = Annotated[str, StringConstraints(max_length=200, pattern=TEXT_PATTERN)]
Text = Annotated[str, StringConstraints(max_length=2000, pattern=TEXT_PATTERN)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=TEXT_PATTERN)]


def _aware(value: datetime) -> datetime:
    """A date without a zone is taken as UTC; the result is always in UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _unique(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("names must not repeat")
    return values


UtcTime = Annotated[datetime, AfterValidator(_aware)]
Operations = Annotated[list[Name], Field(min_length=1, max_length=100), AfterValidator(_unique)]
FieldName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_-]{0,62}$")]
Fields = Annotated[list[FieldName], Field(min_length=1, max_length=200), AfterValidator(_unique)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PartyIn(Strict):
    name: Name = Field(description="Short name of the agency or application, e.g. dukcapil.")
    title: Title = ""
    roles: Annotated[
        list[Role], Field(min_length=1, max_length=len(ROLES)), AfterValidator(_unique)
    ]


class PartyOut(BaseModel):
    name: str
    title: str
    roles: list[str]
    created_at: datetime


class PartyCreated(BaseModel):
    party: PartyOut
    token: str = Field(description="The party's API token. Shown once; only its hash is kept.")
    broker_user: str | None = Field(default=None, description="The party's broker user.")
    broker_password: str | None = Field(
        default=None,
        description="The broker user's password. Shown once; only RabbitMQ's salted hash is kept.",
    )


class BrokerCredentials(BaseModel):
    party: PartyOut
    broker_user: str = Field(description="The party's broker user (its requests' user_id).")
    broker_password: str = Field(
        description="The new broker password. Shown once; only RabbitMQ's salted hash is kept."
    )


class ThemeIn(Strict):
    name: Name
    title: Title = ""
    description: Text = ""


class ThemeOut(BaseModel):
    name: str
    title: str
    description: str
    created_at: datetime


class LifecycleIn(Strict):
    lifecycle: Lifecycle
    reason: Text = ""


class VersionOut(BaseModel):
    version: str
    lifecycle: str
    published_at: datetime


class ServiceSummary(BaseModel):
    ref: str = Field(description="PUBLISHER.SERVICE.vMAJOR")
    publisher: str
    service: str
    major: int
    version: str = Field(description="The newest version in this major version.")
    theme: str
    title: str
    description: str
    classification: str
    lifecycle: str
    operations: list[str]
    subject_field: str | None = Field(
        default=None, description="The request field naming the data subject, if any."
    )
    personal_fields: list[str] = Field(
        default_factory=list,
        description="Response fields marked x-splp-personal, over every operation.",
    )
    data_management: dict[str, Any] | None = Field(
        default=None,
        description="Steward (walidata), master or reference data, update frequency, "
        "source of truth, and the fields it is the one source for (Pasal 51(2)).",
    )


class ServiceDetail(ServiceSummary):
    versions: list[VersionOut]
    descriptor: dict[str, Any] = Field(description="The descriptor, with the operations' schemas.")
    warnings: list[str] = Field(
        default_factory=list,
        description="On publish: e.g. another service is already the one source of a field.",
    )


class AccessRequestIn(Strict):
    service: ServiceRefText = Field(description="PUBLISHER.SERVICE.vMAJOR")
    operations: Operations | None = Field(
        default=None, description="The operations asked for; all of them when left out."
    )
    reason: Reason
    purpose: Text | None = Field(
        default=None,
        description="What the data is for; required for personal and sensitive services.",
    )
    legal_basis: Text | None = Field(
        default=None,
        description="The dasar hukum that allows the processing, e.g. a regulation and its "
        "article; required for personal and sensitive services.",
    )
    contact: Title | None = Field(
        default=None,
        description="Who answers for the use of the data (name, office, e-mail); required "
        "for personal and sensitive services.",
    )
    expires_wanted: UtcTime | None = Field(
        default=None,
        description="The expiry the requester asks for (UTC): in the future and, for "
        "personal and sensitive services, at most SPLP_PERSONAL_GRANT_MAX_DAYS away. The "
        "publisher still decides the grant's expires_at.",
    )


class StepIn(Strict):
    reason: Text = ""
    data_protection_note: Text | None = Field(
        default=None,
        description="approve only: the administrator's data-protection check (purpose, legal "
        "basis, minimal fields); required for personal and sensitive services.",
    )


class GrantIn(Strict):
    reason: Text = ""
    quota_per_minute: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    expires_at: UtcTime | None = Field(default=None, description="When the grant ends (UTC).")
    operations: Operations | None = Field(
        default=None, description="Grant fewer operations than were asked for."
    )
    fields: Fields | None = Field(
        default=None,
        description="The response fields the requester may receive; the adapter removes the "
        "others. Every field when left out. Refused (422) when a granted operation answers "
        "neither an object nor a list of objects.",
    )


class AccessEventOut(BaseModel):
    step: str
    actor: str
    person: str | None = Field(
        default=None, description="The signed-in person who took the step for the party."
    )
    at: datetime
    from_state: str | None
    to_state: str
    reason: str


class AccessRequestOut(BaseModel):
    id: int
    requester: str
    service: str
    theme: str
    operations: list[str] | None
    reason: str
    state: str
    quota_per_minute: int | None
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    purpose: str | None = None
    legal_basis: str | None = None
    contact: str | None = None
    data_protection_note: str | None = None
    fields: list[str] | None = Field(default=None, description="null for every field")
    expires_wanted: datetime | None = Field(
        default=None, description="The expiry the requester asked for; null for none."
    )


class GrantOut(BaseModel):
    """What an adapter needs to admit a caller: who, which operations, how often, until when."""

    request_id: int
    requester: str
    service: str
    theme: str
    operations: list[str] | None = Field(description="null for every operation")
    quota_per_minute: int | None
    expires_at: datetime | None
    fields: list[str] | None = Field(
        default=None, description="The response fields it allows; null for every field."
    )


class ExpiringGrant(GrantOut):
    """A grant to re-certify: it ends soon."""

    publisher: str


class ApplicationIn(Strict):
    name: Name = Field(description="The application's name, unique among the party's, e.g. sipd.")
    api_key: bool = Field(
        default=False, description="Also issue an API key, for a legacy application."
    )


class ApplicationOut(BaseModel):
    party: str
    name: str
    client_id: str = Field(description="Public: the application sends it with its secret.")
    api_key: bool = Field(description="Whether the application has an API key.")
    created_at: datetime
    revoked_at: datetime | None
    secret_rotated_at: datetime | None = Field(
        default=None, description="When the client secret was last rotated; null: never."
    )


class ApplicationCreated(BaseModel):
    party: str
    name: str
    client_id: str
    client_secret: str = Field(description="Shown once; only its SHA-256 is kept.")
    api_key: str | None = Field(
        default=None, description="Shown once when asked for; only its SHA-256 is kept."
    )


class GatewayCredential(BaseModel):
    """What the gateway checks an application's credentials against: hashes only."""

    client_id: str
    party: str = Field(description="The requester party the application calls for.")
    application: str
    secret_hash: str = Field(description="Hex SHA-256 of the client secret.")
    api_key_hash: str | None = Field(description="Hex SHA-256 of the API key; null without one.")


Email = Annotated[str, StringConstraints(min_length=3, max_length=254, pattern=r"^[^\x00\s]+$")]
Secret = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=TEXT_PATTERN)]


class UserIn(Strict):
    party: Name
    email: Email
    name: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=TEXT_PATTERN)]
    nip: Annotated[str, StringConstraints(pattern=r"^[0-9]{18}$")] | None = Field(
        default=None, description="Nomor Induk Pegawai (18 digits), for civil servants."
    )
    roles: Annotated[list[Role], Field(min_length=1, max_length=len(ROLES))]


class UserOut(BaseModel):
    email: str
    name: str
    nip: str | None
    party: str
    roles: list[str]
    state: str = Field(description="active, pending (no password yet), locked or disabled")
    totp: bool = Field(description="Whether a second factor (TOTP) is on.")
    last_login_at: datetime | None
    created_at: datetime


class UserSetup(BaseModel):
    user: UserOut
    setup_token: str = Field(description="One-time set-password token (shown once).")
    setup_link: str = Field(description="The link that redeems it (shown once).")
    expires_at: datetime


class ResetIn(Strict):
    clear_totp: bool = Field(default=False, description="Also turn the second factor off.")


class LoginIn(Strict):
    email: Email
    password: Secret
    code: Annotated[str, StringConstraints(pattern=r"^ ?[0-9]{6} ?$")] | None = Field(
        default=None, description="The 6-digit TOTP code, when the account has a second factor."
    )


class LoginOut(BaseModel):
    user: UserOut
    csrf_token: str = Field(description="Send it as X-CSRF-Token with requests that change things.")
    expires_at: datetime


class SetPasswordIn(Strict):
    token: Secret
    password: Secret


class TotpOut(BaseModel):
    secret: str
    uri: str = Field(description="otpauth:// URI for an authenticator app (as a QR code).")


class TotpConfirmIn(Strict):
    code: Annotated[str, StringConstraints(pattern=r"^ ?[0-9]{6} ?$")]


class AttachmentOut(BaseModel):
    id: int
    request_id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime
