"""Routes for themes and services: publish, search, detail, lifecycle, exports, grants."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from splp.bus.descriptor import ServiceDescriptor
from splp.bus.names import NAME_PATTERN
from splp.directory_service import catalog
from splp.directory_service.access import active_grants
from splp.directory_service.auth import Session, allow
from splp.directory_service.bodies import (
    TEXT_PATTERN,
    GrantOut,
    LifecycleIn,
    ServiceDetail,
    ServiceSummary,
    ThemeIn,
    ThemeOut,
)
from splp.directory_service.models import Party, Theme
from splp.directory_service.parties import Caller
from splp.directory_service.publish_preview import canonical_sha256, preview
from splp.directory_service.routes.common import (
    Administrator,
    Anyone,
    Publisher,
    ServicePath,
    events_of,
    problems,
    reconcile_broker,
    with_etag,
)
from splp.web.problems import Problem

router = APIRouter()

NameQuery = Annotated[str | None, Query(max_length=63, pattern=NAME_PATTERN)]
SEMVER_PATTERN = r"^(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})$"


def theme_view(theme: Theme) -> dict[str, Any]:
    return {
        "name": theme.name,
        "title": theme.title,
        "description": theme.description,
        "created_at": theme.created_at,
    }


@router.post(
    "/themes",
    status_code=201,
    response_model=ThemeOut,
    responses=problems(409, 422),
    tags=["themes"],
)
async def add_theme(
    body: ThemeIn, caller: Administrator, session: Session, request: Request
) -> Any:
    """Add a theme (one topic exchange on the bus)."""
    theme = await catalog.create_theme(session, body.name, body.title, body.description)
    events_of(request).emit(session, "admin.theme-added", actor=caller.name, theme=theme.name)
    await session.commit()
    await reconcile_broker(request)
    return theme_view(theme)


@router.get("/themes", response_model=list[ThemeOut], responses=problems(), tags=["themes"])
async def list_themes(caller: Anyone, session: Session) -> Any:
    """Every theme."""
    return [theme_view(t) for t in await catalog.list_themes(session)]


@router.get("/themes/{theme}/asyncapi", responses=problems(404), tags=["themes", "exports"])
async def theme_asyncapi(
    theme: Annotated[str, Path(max_length=63)], caller: Anyone, session: Session
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of a theme: channels are routing keys, messages the schemas."""
    if await catalog.theme_named(session, theme) is None:
        raise Problem(404, f"no theme {theme!r}")
    groups = await catalog.search(session, theme=theme)
    from splp.directory_service.export import asyncapi_for

    return asyncapi_for(theme, [g.descriptor() for g in groups])


Sha256Query = Annotated[
    str | None,
    Query(
        pattern=r"^[0-9a-f]{64}$",
        description="The ``descriptor_sha256`` of a preview: the publish is refused (412) "
        "when the descriptor is not the one previewed.",
    ),
]


@router.post(
    "/services",
    status_code=201,
    response_model=ServiceDetail,
    responses=problems(409, 412, 422),
    tags=["services"],
)
async def publish_service(
    descriptor: ServiceDescriptor,
    caller: Publisher,
    session: Session,
    request: Request,
    expect_sha256: Sha256Query = None,
) -> Any:
    """Publish a version of one of the caller's services (a descriptor with its schemas).

    Inside a major version a new version must be greater and must not break callers of the
    current one (409 with ``breaking_changes``); a breaking change is a new major version.
    An operation schema over ``SPLP_SCHEMA_MAX_BYTES`` or ``SPLP_SCHEMA_MAX_DEPTH`` is a 422.
    A descriptor that claims to be the one source of a field another service already
    claims (``data_management.authoritative_for``) is published with a warning.
    ``POST /services/preview`` shows all this first, without publishing.
    """
    settings = request.app.state.settings
    if expect_sha256 is not None:
        document = descriptor.model_dump(mode="json", exclude_defaults=False)
        if canonical_sha256(document) != expect_sha256:
            raise Problem(
                412,
                "the descriptor is not the one previewed (its sha256 differs): preview it again",
                kind="not-previewed",
            )
    warnings = await catalog.source_conflicts(session, descriptor)
    group = await catalog.publish(
        session,
        caller,
        descriptor,
        max_schema_bytes=settings.schema_max_bytes,
        max_schema_depth=settings.schema_max_depth,
    )
    events_of(request).emit(
        session,
        "admin.service-published",
        actor=caller.name,
        theme=group.theme,
        publisher=group.publisher,
        service=group.service.name,
        major=descriptor.major,
        version=descriptor.version,
        source_conflicts=len(warnings),
    )
    await session.commit()
    await reconcile_broker(request)
    return {**catalog.detail(group), "warnings": warnings}


class PublishPreview(BaseModel):
    ref: str = Field(description="PUBLISHER.SERVICE.vMAJOR")
    version: str
    current_version: str | None = Field(
        description="The version the new one is compared with (none: nothing to compare)."
    )
    outcome: Literal["new-service", "new-major", "compatible", "breaking"]
    publishable: bool = Field(description="False when the new version would break callers.")
    breaking_changes: list[str]
    changes: list[dict[str, Any]] = Field(
        description="What differs from current_version, e.g. {change: operation-added, "
        "operation: ...}."
    )
    warnings: list[str] = Field(description="Master-data warnings the publish would give.")
    descriptor_sha256: str = Field(description="Pass it as expect_sha256 to the publish.")


@router.post(
    "/services/preview",
    response_model=PublishPreview,
    responses=problems(409, 422),
    tags=["services"],
)
async def preview_service(
    descriptor: ServiceDescriptor, caller: Publisher, session: Session, request: Request
) -> Any:
    """A dry run of ``POST /services``: the same checks (403 for another publisher's
    service, 422 for a bad descriptor or an unknown theme, 409 for a version that exists
    or is not greater) and the compatibility report against the current version, with
    nothing stored and no audit event."""
    settings = request.app.state.settings
    warnings = await catalog.source_conflicts(session, descriptor)
    plan = await catalog.plan_publish(
        session,
        caller,
        descriptor,
        max_schema_bytes=settings.schema_max_bytes,
        max_schema_depth=settings.schema_max_depth,
    )
    return preview(plan, warnings)


@router.get(
    "/services", response_model=list[ServiceSummary], responses=problems(), tags=["services"]
)
async def list_services(
    caller: Anyone,
    session: Session,
    theme: NameQuery = None,
    publisher: NameQuery = None,
    q: Annotated[
        str | None, Query(max_length=200, pattern=TEXT_PATTERN, description="Words to find.")
    ] = None,
    include_retired: bool = False,
) -> Any:
    """Search the directory by theme, publisher and words."""
    groups = await catalog.search(session, theme, publisher, q, include_retired)
    return [catalog.summary(g) for g in groups]


@router.get(
    "/services/{ref}", response_model=ServiceDetail, responses=problems(404), tags=["services"]
)
async def show_service(
    ref: ServicePath, caller: Anyone, session: Session, request: Request
) -> Response:
    """A service at one major version: its versions and current descriptor (with an ETag)."""
    group = await catalog.find_service(session, catalog.parse_ref(ref))
    return with_etag(request, catalog.detail(group))


@router.get("/services/{ref}/descriptor", responses=problems(404), tags=["services"])
async def service_descriptor(
    ref: ServicePath,
    caller: Anyone,
    session: Session,
    request: Request,
    version: Annotated[str | None, Query(pattern=SEMVER_PATTERN, max_length=32)] = None,
) -> Response:
    """The descriptor of the current (or a given) version, for adapters and SDKs, with an ETag."""
    group = await catalog.find_service(session, catalog.parse_ref(ref))
    chosen = group.current
    if version is not None:
        chosen = next((v for v in group.versions if v.version == version), None)  # type: ignore[assignment]
        if chosen is None:
            raise Problem(404, f"{ref} has no version {version}")
    return with_etag(request, chosen.descriptor)


GATEWAY_URL = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$"


@router.get("/services/{ref}/openapi", responses=problems(404, 422), tags=["services", "exports"])
async def service_openapi(
    ref: ServicePath,
    caller: Anyone,
    session: Session,
    server: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=GATEWAY_URL,
            description="The HTTP gateway's URL (splp gateway serve), e.g. "
            "https://splp.bungokab.go.id",
        ),
    ] = None,
    openapi: Annotated[
        Literal["3.1", "3.0"], Query(description="3.0 for portals that import only 3.0.")
    ] = "3.1",
) -> dict[str, Any]:
    """The OpenAPI document of a service's current version, as the gateway at ``server``
    serves it (paths, OAuth2 client-credentials token URL, the publisher as contact)."""
    group = await catalog.find_service(session, catalog.parse_ref(ref))
    from splp.directory_service.export import openapi_for

    publisher = await session.scalar(select(Party).where(Party.id == group.service.publisher_id))
    contact = {"name": (publisher.title or publisher.name) if publisher else group.publisher}
    return openapi_for(group.descriptor(), server=server, version=openapi, contact=contact)


@router.put(
    "/services/{ref}/versions/{version}/lifecycle",
    response_model=ServiceDetail,
    responses=problems(404, 409, 422),
    tags=["services"],
)
async def change_lifecycle(
    ref: ServicePath,
    version: Annotated[str, Path(max_length=32)],
    body: LifecycleIn,
    caller: Annotated[Caller, Depends(allow("administrator", "publisher"))],
    session: Session,
    request: Request,
) -> Any:
    """Deprecate, retire or re-publish one version (the owning publisher or an administrator)."""
    group, target, old = await catalog.set_lifecycle(
        session, caller, catalog.parse_ref(ref), version, body.lifecycle
    )
    events_of(request).emit(
        session,
        "admin.lifecycle-changed",
        actor=caller.name,
        theme=group.theme,
        publisher=group.publisher,
        service=group.service.name,
        version=target.version,
        from_state=old,
        to_state=target.lifecycle,
    )
    await session.commit()
    await reconcile_broker(request)
    return catalog.detail(group)


@router.get(
    "/services/{ref}/grants",
    response_model=list[GrantOut],
    responses=problems(404),
    tags=["grants"],
)
async def service_grants(
    ref: ServicePath,
    caller: Annotated[Caller, Depends(allow("administrator", "monitor", "publisher"))],
    session: Session,
    request: Request,
) -> Response:
    """The grants in force for a service, for its adapter (with an ETag)."""
    group = await catalog.find_service(session, catalog.parse_ref(ref))
    if not caller.has("administrator", "monitor") and caller.name != group.publisher:
        raise Problem(403, f"only {group.publisher}, administrators and monitors see these grants")
    return with_etag(request, await active_grants(session, service=group))
