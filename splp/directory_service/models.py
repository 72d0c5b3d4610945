"""The directory's tables: parties with their tokens, applications and people, themes,
services and their versions, access requests with their history and documents, and the
outbox of audit events.

The store is portable between SQLite and PostgreSQL: timestamps are kept in UTC
(:class:`UtcDateTime` restores the zone SQLite drops), lists are JSON columns, and no
column relies on an engine-specific type.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from splp.db import NAMING, UtcDateTime, utcnow


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Party(Base):
    """An agency (OD) or an external application."""

    __tablename__ = "parties"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    roles: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    broker_password_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """RabbitMQ's salted hash of the party's broker password; the password is never kept."""
    broker_password_set_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    """When the broker password was last issued (recorded since migration 0010; ``None``
    for a password issued before)."""


class ApiToken(Base):
    """A directory API token; only its SHA-256 hash is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class Application(Base):
    """An application of a party that calls through the HTTP gateway (RFC 6749 §4.4 client
    credentials). Only the SHA-256 of its client secret and of its API key are stored.

    Its name is unique among the party's applications that are not revoked, so a revoked
    name can be issued again.
    """

    __tablename__ = "applications"
    __table_args__ = (
        Index(
            "uq_applications_party_id_name_active",
            "party_id",
            "name",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    client_id: Mapped[str] = mapped_column(String(40), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    api_key_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    """When the client secret was last replaced (since migration 0011); ``None``: never."""


class Theme(Base):
    """A group of services; one topic exchange on the bus."""

    __tablename__ = "themes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Service(Base):
    """A service of a publisher, across all its versions."""

    __tablename__ = "services"
    __table_args__ = (UniqueConstraint("publisher_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    publisher_id: Mapped[int] = mapped_column(ForeignKey("parties.id"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ServiceVersion(Base):
    """One published version: the descriptor as JSON and its lifecycle state."""

    __tablename__ = "service_versions"
    __table_args__ = (UniqueConstraint("service_id", "major", "minor", "patch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), index=True)
    theme_id: Mapped[int] = mapped_column(ForeignKey("themes.id"), index=True)
    major: Mapped[int] = mapped_column(Integer)
    minor: Mapped[int] = mapped_column(Integer)
    patch: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    classification: Mapped[str] = mapped_column(String(20))
    descriptor: Mapped[dict[str, Any]] = mapped_column(JSON)
    lifecycle: Mapped[str] = mapped_column(String(20), default="published")
    published_by: Mapped[int] = mapped_column(ForeignKey("parties.id"))
    published_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    @property
    def version(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


class AccessRequest(Base):
    """A requester's application for a service major version, and the grant it becomes.

    ``operations`` is ``None`` for every operation of the service. The grant fields
    (``quota_per_minute``, ``expires_at``) are set by the publisher when it grants.
    """

    __tablename__ = "access_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("parties.id"), index=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), index=True)
    major: Mapped[int] = mapped_column(Integer)
    operations: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20), default="submitted", index=True)
    quota_per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    purpose: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Why the requester needs the data (UU 27/2022 purpose limitation)."""
    legal_basis: Mapped[str | None] = mapped_column(Text, nullable=True)
    """The dasar hukum: the regulation that allows the processing."""
    contact: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Who answers for the requester's use of the data."""
    data_protection_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    """The administrator's data-protection check, recorded at approval."""
    fields: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    """The response fields the grant allows; ``None`` for every field."""
    expires_wanted: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    """The expiry the requester asks for (since migration 0011); the publisher decides
    ``expires_at``."""
    recertify_notified_for: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    """The ``expires_at`` for which the holder and the publisher were told to re-certify the
    grant (since migration 0012); a grant extended to a new expiry is announced again."""


class SubjectKey(Base):
    """A key of the subject HMAC (:mod:`splp.directory_service.subject_keys`): the newest
    is the one adapters use; older ones are kept so that earlier accesses stay findable."""

    __tablename__ = "subject_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    secret: Mapped[str] = mapped_column(String(64))
    """32 random bytes, hex; served only to publishers' adapters."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class User(Base):
    """A person of a party who signs in to the portal (Aplikasi SPLP).

    ``roles`` are a subset of the party's roles. Only an argon2id hash of the password is
    kept; until the person sets one, ``setup_hash`` holds the SHA-256 of a one-time
    set-password token. Machines keep using the party's API tokens.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    nip: Mapped[str | None] = mapped_column(String(18), nullable=True)
    roles: Mapped[list[str]] = mapped_column(JSON)
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    totp_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    totp_pending: Mapped[str | None] = mapped_column(String(64), nullable=True)
    setup_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    setup_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class UserSession(Base):
    """A signed-in browser: the SHA-256 of its session cookie, never the cookie itself."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AccessEvent(Base):
    """One step of an access request: who, when, from which state to which, and why."""

    __tablename__ = "access_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("access_requests.id", ondelete="CASCADE"), index=True
    )
    step: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int] = mapped_column(ForeignKey("parties.id"))
    actor_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    """The person who took the step for the party (``None`` for a machine's API token)."""
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    from_state: Mapped[str | None] = mapped_column(String(20), nullable=True)
    to_state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")


class Attachment(Base):
    """A document attached to an access request, such as the signed request letter (PDF).

    Its bytes are kept in the store (so that a backup holds them); its SHA-256 is what the
    audit trail records. Its name is the requester's, made safe; never an audit field.
    """

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("access_requests.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(100))
    content_type: Mapped[str] = mapped_column(String(50))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[int] = mapped_column(ForeignKey("parties.id"))
    uploaded_by_user: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AuditOutbox(Base):
    """An audit event written in the transaction of the change it records, waiting for the
    relay of :mod:`splp.directory_service.events` to publish it (deleted once confirmed)."""

    __tablename__ = "audit_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    routing_key: Mapped[str] = mapped_column(String(255))
    event: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class MisuseHit(Base):
    """A requester's traffic that matched a misuse rule (:mod:`splp.audit.misuse`), kept
    for review: the supervision report lists it with its follow-ups."""

    __tablename__ = "misuse_hits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    rule: Mapped[str] = mapped_column(String(40), index=True)
    requester: Mapped[str] = mapped_column(String(255), index=True)
    """The broker user whose traffic matched (``<prefix><party>``)."""
    service: Mapped[str | None] = mapped_column(String(200), nullable=True)
    operation: Mapped[str | None] = mapped_column(String(63), nullable=True)
    since: Mapped[datetime] = mapped_column(UtcDateTime)
    until: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
    suspended: Mapped[list[int]] = mapped_column(JSON)
    """The access requests (grants) suspended because of the hit, pending review."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SupervisionNote(Base):
    """A follow-up recorded by an administrator for a misuse hit (Pasal 8(6))."""

    __tablename__ = "supervision_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hit_id: Mapped[int] = mapped_column(
        ForeignKey("misuse_hits.id", ondelete="CASCADE"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int] = mapped_column(ForeignKey("parties.id"))
    author_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
