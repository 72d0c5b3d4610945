"""The metadata repository and service directory: themes, services and their versions.

A service is known by its reference ``PUBLISHER.SERVICE.vMAJOR``; inside a major version
only compatible changes are published (checked by :func:`splp.bus.compat.breaking_changes`,
which also keeps the theme: it names the exchange) and versions only go forward.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from splp.bus.descriptor import PERSONAL_MARK, ServiceDescriptor
from splp.bus.names import ServiceRef
from splp.bus.wire import dumps
from splp.directory_service.models import Party, Service, ServiceVersion, Theme
from splp.directory_service.parties import Caller
from splp.log import get_logger
from splp.web.problems import Problem

log = get_logger("directory.catalog")

LIFECYCLE_STEPS = {
    ("published", "deprecated"),
    ("deprecated", "published"),
    ("published", "retired"),
    ("deprecated", "retired"),
}


@dataclass(frozen=True, slots=True)
class ServiceMajor:
    """All versions of one service at one major version, oldest first."""

    publisher: str
    service: Service
    theme: str
    versions: list[ServiceVersion]

    @property
    def ref(self) -> ServiceRef:
        return ServiceRef(self.publisher, self.service.name, self.versions[0].major)

    @property
    def current(self) -> ServiceVersion:
        """The newest version that is not retired, else the newest."""
        live = [v for v in self.versions if v.lifecycle != "retired"]
        return (live or self.versions)[-1]

    @property
    def retired(self) -> bool:
        return all(v.lifecycle == "retired" for v in self.versions)

    def descriptor(self, version: ServiceVersion | None = None) -> ServiceDescriptor:
        return ServiceDescriptor.model_validate((version or self.current).descriptor)


async def create_theme(session: AsyncSession, name: str, title: str, description: str) -> Theme:
    if await session.scalar(select(Theme.id).where(Theme.name == name)) is not None:
        raise Problem(409, f"theme {name!r} exists already")
    theme = Theme(name=name, title=title, description=description)
    session.add(theme)
    await session.flush()
    return theme


async def list_themes(session: AsyncSession) -> list[Theme]:
    return list((await session.scalars(select(Theme).order_by(Theme.name))).all())


async def theme_named(session: AsyncSession, name: str) -> Theme | None:
    theme: Theme | None = await session.scalar(select(Theme).where(Theme.name == name))
    return theme


def _check_storable(value: Any, where: str = "descriptor") -> None:
    """Refuse what a JSON column cannot hold on every engine: NUL characters, NaN."""
    if isinstance(value, str):
        if "\x00" in value:
            raise Problem(422, f"{where}: text must not contain a NUL character")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise Problem(422, f"{where}: numbers must be finite")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_storable(key, where)
            _check_storable(item, f"{where}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_storable(item, f"{where}/{index}")


def depth(value: Any) -> int:
    """How deeply objects and arrays nest in ``value`` (a scalar is 0, ``{}`` is 1)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            stack.extend(
                (child, level + 1) for child in (item.values() if isinstance(item, dict) else item)
            )
    return deepest


def check_schema_bounds(descriptor: ServiceDescriptor, max_bytes: int, max_depth: int) -> None:
    """Refuse an operation schema larger than ``max_bytes`` (compact JSON) or nested deeper
    than ``max_depth``: every later step (storing, compiling, the compatibility check of
    the next version, every adapter's load) pays for its size."""
    for name, op in descriptor.operations.items():
        for part, schema in (("request", op.request), ("response", op.response)):
            where = f"operation {name} {part} schema"
            if (size := len(dumps(schema))) > max_bytes:
                raise Problem(
                    422, f"{where} is larger than {max_bytes} bytes ({size}; SPLP_SCHEMA_MAX_BYTES)"
                )
            if (levels := depth(schema)) > max_depth:
                raise Problem(
                    422,
                    f"{where} nests deeper than {max_depth} levels ({levels}; "
                    "SPLP_SCHEMA_MAX_DEPTH): use $defs and $ref for shared parts",
                )


@dataclass(frozen=True, slots=True)
class PublishPlan:
    """What publishing ``descriptor`` would do, checked without writing anything: the
    theme, the service row (``None`` for a new service), the versions of its major, the
    version compared against and why the new one would break its callers."""

    descriptor: ServiceDescriptor
    document: dict[str, Any]
    theme: Theme
    service: Service | None
    existing: list[ServiceVersion]
    previous: ServiceVersion | None
    breaking_changes: list[str]


async def plan_publish(
    session: AsyncSession,
    caller: Caller,
    descriptor: ServiceDescriptor,
    *,
    max_schema_bytes: int,
    max_schema_depth: int,
) -> PublishPlan:
    """Every check of :func:`publish`, with nothing written: a problem for what can never
    be published (another publisher's service, schema bounds, an unknown theme, a version
    that exists or is not greater), the breaking changes as a list."""
    if descriptor.publisher != caller.name:
        raise Problem(
            403, f"{caller.name} may only publish its own services, not {descriptor.publisher}'s"
        )
    check_schema_bounds(descriptor, max_schema_bytes, max_schema_depth)
    document = descriptor.model_dump(mode="json", exclude_defaults=False)
    _check_storable(document)
    theme = await theme_named(session, descriptor.theme)
    if theme is None:
        raise Problem(422, f"unknown theme {descriptor.theme!r}: an administrator adds it first")
    service = await session.scalar(
        select(Service).where(Service.publisher_id == caller.id, Service.name == descriptor.service)
    )
    major, minor, patch = (int(p) for p in descriptor.version.split("."))
    existing = await _versions(session, service.id, major) if service is not None else []
    new_key = (major, minor, patch)
    for version in existing:
        if (version.major, version.minor, version.patch) == new_key:
            raise Problem(
                409, f"{descriptor.ref} version {descriptor.version} is published already"
            )
    previous, reasons = None, []
    if existing:
        newest = existing[-1]
        if (newest.major, newest.minor, newest.patch) > new_key:
            raise Problem(
                409,
                f"{descriptor.ref} has version {newest.version} already; "
                "a new version must be greater",
            )
        assert service is not None
        group = ServiceMajor(caller.name, service, "", existing)
        if not group.retired:
            from splp.bus.compat import breaking_changes

            previous = group.current
            try:
                reasons = breaking_changes(group.descriptor(previous), descriptor)
            except Exception:  # a schema the checker cannot read must not become a 500
                log.exception("compatibility check failed for %s", descriptor.ref)
                raise Problem(
                    422,
                    f"the compatibility of {descriptor.version} with {previous.version} "
                    "cannot be checked; publish it as a new major version",
                ) from None
    return PublishPlan(descriptor, document, theme, service, existing, previous, reasons)


async def publish(
    session: AsyncSession,
    caller: Caller,
    descriptor: ServiceDescriptor,
    *,
    max_schema_bytes: int,
    max_schema_depth: int,
) -> ServiceMajor:
    """Store a new version of a service published by ``caller``; see the module docstring."""
    plan = await plan_publish(
        session,
        caller,
        descriptor,
        max_schema_bytes=max_schema_bytes,
        max_schema_depth=max_schema_depth,
    )
    major = descriptor.major
    if plan.breaking_changes:
        assert plan.previous is not None
        raise Problem(
            409,
            f"version {descriptor.version} would break callers of {plan.previous.version}: "
            + "; ".join(plan.breaking_changes)
            + f". Publish it as {major + 1}.0.0 instead.",
            kind="breaking-change",
            breaking_changes=plan.breaking_changes,
        )
    service = plan.service
    if service is None:
        service = Service(publisher_id=caller.id, name=descriptor.service)
        session.add(service)
        await session.flush()
    _major, minor, patch = (int(p) for p in descriptor.version.split("."))
    version = ServiceVersion(
        service_id=service.id,
        theme_id=plan.theme.id,
        major=major,
        minor=minor,
        patch=patch,
        title=descriptor.title,
        description=descriptor.description,
        classification=descriptor.classification,
        descriptor=plan.document,
        lifecycle="published",
        published_by=caller.id,
    )
    session.add(version)
    await session.flush()
    return ServiceMajor(caller.name, service, plan.theme.name, [*plan.existing, version])


async def _versions(session: AsyncSession, service_id: int, major: int) -> list[ServiceVersion]:
    rows = await session.scalars(
        select(ServiceVersion)
        .where(ServiceVersion.service_id == service_id, ServiceVersion.major == major)
        .order_by(ServiceVersion.minor, ServiceVersion.patch)
    )
    return list(rows.all())


async def find_service(session: AsyncSession, ref: ServiceRef) -> ServiceMajor:
    """The service behind ``ref``, or a 404 problem."""
    row = (
        await session.execute(
            select(Service)
            .join(Party, Party.id == Service.publisher_id)
            .where(Party.name == ref.publisher, Service.name == ref.service)
        )
    ).scalar_one_or_none()
    versions = await _versions(session, row.id, ref.major) if row is not None else []
    if row is None or not versions:
        raise Problem(404, f"no service {ref} in the directory")
    theme = await session.scalar(select(Theme.name).where(Theme.id == versions[-1].theme_id))
    return ServiceMajor(ref.publisher, row, str(theme), versions)


def parse_ref(text: str, status: int = 404) -> ServiceRef:
    """``text`` as a service reference, or a problem: 404 in a path (it names nothing we
    have), 422 when ``status=422`` for a reference inside a request body."""
    try:
        return ServiceRef.parse(text)
    except ValueError as exc:
        raise Problem(status, str(exc)) from None


async def search(
    session: AsyncSession,
    theme: str | None = None,
    publisher: str | None = None,
    text: str | None = None,
    include_retired: bool = False,
) -> list[ServiceMajor]:
    """Services by theme, publisher and words in their names, titles or descriptions."""
    query = (
        select(ServiceVersion, Service, Party.name, Theme.name)
        .join(Service, Service.id == ServiceVersion.service_id)
        .join(Party, Party.id == Service.publisher_id)
        .join(Theme, Theme.id == ServiceVersion.theme_id)
        .order_by(
            Party.name,
            Service.name,
            ServiceVersion.major,
            ServiceVersion.minor,
            ServiceVersion.patch,
        )
    )
    if publisher:
        query = query.where(Party.name == publisher)
    # a major version keeps its theme (compat refuses a change), so any row names it
    groups: dict[tuple[int, int], ServiceMajor] = {}
    for version, service, publisher_name, theme_name in (await session.execute(query)).all():
        key = (service.id, version.major)
        if key not in groups:
            groups[key] = ServiceMajor(publisher_name, service, theme_name, [])
        groups[key].versions.append(version)
    found = []
    words = (text or "").lower().split()
    for group in groups.values():
        if theme and group.theme != theme:
            continue
        if not include_retired and group.retired:
            continue
        current = group.current
        operations = current.descriptor.get("operations", {})
        haystack = " ".join([str(group.ref), current.title, current.description, *operations])
        if all(word in haystack.lower() for word in words):
            found.append(group)
    return found


async def set_lifecycle(
    session: AsyncSession, caller: Caller, ref: ServiceRef, version: str, lifecycle: str
) -> tuple[ServiceMajor, ServiceVersion, str]:
    """Move one version to ``lifecycle``; returns the group, the version and the old state."""
    group = await find_service(session, ref)
    if not (caller.is_administrator or caller.name == group.publisher):
        raise Problem(403, f"only an administrator or {group.publisher} may change {ref}")
    target = next((v for v in group.versions if v.version == version), None)
    if target is None:
        raise Problem(404, f"{ref} has no version {version}")
    old = target.lifecycle
    if old == lifecycle:
        raise Problem(409, f"{ref} version {version} is {old} already")
    if (old, lifecycle) not in LIFECYCLE_STEPS:
        raise Problem(409, f"{ref} version {version} is {old}; it cannot become {lifecycle}")
    target.lifecycle = lifecycle
    await session.flush()
    return group, target, old


def summary(group: ServiceMajor) -> dict[str, Any]:
    current = group.current
    return {
        "ref": str(group.ref),
        "publisher": group.publisher,
        "service": group.service.name,
        "major": current.major,
        "version": current.version,
        "theme": group.theme,
        "title": current.title,
        "description": current.description,
        "classification": current.classification,
        "lifecycle": current.lifecycle,
        "operations": sorted(current.descriptor.get("operations", {})),
        "subject_field": current.descriptor.get("subject_field"),
        "personal_fields": _personal_fields(group),
        "data_management": current.descriptor.get("data_management"),
    }


def _personal_fields(group: ServiceMajor) -> list[str]:
    """The response fields marked ``x-splp-personal``, read from the stored document (a
    listing does not re-validate every descriptor)."""
    found: set[str] = set()
    for operation in (group.current.descriptor.get("operations") or {}).values():
        properties = (operation.get("response") or {}).get("properties") or {}
        if isinstance(properties, dict):
            found.update(
                name
                for name, schema in properties.items()
                if isinstance(schema, dict) and schema.get(PERSONAL_MARK) is True
            )
    return sorted(found)


async def source_conflicts(session: AsyncSession, descriptor: ServiceDescriptor) -> list[str]:
    """Warnings when ``descriptor`` claims to be the one source of a field that another
    service already claims (Pasal 51(2): one source of truth per master datum)."""
    data = descriptor.data_management
    claimed = set(data.authoritative_for) if data is not None else set()
    if not claimed:
        return []
    warnings = []
    for group in await search(session):
        if (group.publisher, group.service.name) == (descriptor.publisher, descriptor.service):
            continue
        other = group.current.descriptor.get("data_management") or {}
        both = sorted(claimed & set(other.get("authoritative_for") or []))
        if both:
            warnings.append(
                f"{group.ref} is already the one source of {', '.join(both)}"
                f" ({other.get('kind', '?')} data of {other.get('steward', '?')}); "
                "two sources of the same master data will drift apart"
            )
    return warnings


def detail(group: ServiceMajor) -> dict[str, Any]:
    return {
        **summary(group),
        "versions": [
            {"version": v.version, "lifecycle": v.lifecycle, "published_at": v.published_at}
            for v in group.versions
        ],
        "descriptor": group.current.descriptor,
    }
