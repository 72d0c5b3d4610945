"""``splp theme`` and ``splp service``: the service directory from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from splp.cli.guard import fail
from splp.cli.options import DEFAULT_URL, DirectoryUrl, Token
from splp.cli.output import AsJson, print_json, print_table
from splp.cli.remote import call_directory

theme_app = typer.Typer(
    help="Manage themes (groups of services).",
    epilog="Example:\n\n  splp theme list",
    no_args_is_help=True,
)
service_app = typer.Typer(
    help="Publish and find services.",
    epilog="Example:\n\n  splp service list --text penduduk",
    no_args_is_help=True,
)
# the OpenAPI and AsyncAPI commands print JSON anyway; --json is accepted for uniformity
AlwaysJson = Annotated[bool, typer.Option("--json", help="Accepted: the output is JSON anyway.")]

Ref = Annotated[str, typer.Argument(help="PUBLISHER.SERVICE.vMAJOR, e.g. dukcapil.penduduk.v1.")]


@theme_app.command("add", epilog="Example:\n\n  splp theme add kependudukan --title 'Population'")
def add_theme(
    name: Annotated[str, typer.Argument(help="Theme name (\\[a-z0-9-]).")],
    title: Annotated[str, typer.Option(help="Display title.")] = "",
    description: Annotated[str, typer.Option(help="What the theme covers.")] = "",
    as_json: AsJson = False,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Add a theme (administrators)."""
    body = {"name": name, "title": title, "description": description}
    theme = call_directory(directory_url, token, "POST", "/themes", body)
    if as_json:
        print_json(theme)
        return
    typer.echo(f"theme {theme['name']} added")


@theme_app.command("list", epilog="Example:\n\n  splp theme list --json")
def list_themes(
    as_json: AsJson = False, directory_url: DirectoryUrl = DEFAULT_URL, token: Token = ""
) -> None:
    """List themes."""
    themes = call_directory(directory_url, token, "GET", "/themes")
    if as_json:
        print_json(themes)
        return
    print_table(themes, ("name", "title"), "no theme")


@theme_app.command(
    "asyncapi", epilog="Example:\n\n  splp theme asyncapi kependudukan > kependudukan.asyncapi.json"
)
def theme_asyncapi(
    name: Annotated[str, typer.Argument(help="Theme name.")],
    as_json: AlwaysJson = False,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Print the AsyncAPI 3.0 document of a theme (the bus contract of its services)."""
    print_json(call_directory(directory_url, token, "GET", f"/themes/{name}/asyncapi"))


@service_app.command(
    "publish",
    epilog="Examples:\n\n  splp service publish penduduk.yaml --dry-run\n\n"
    "  splp service publish penduduk.yaml",
)
def publish(
    descriptor: Annotated[Path, typer.Argument(help="The service descriptor (YAML or JSON).")],
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Only check it: the compatibility report against the current version, "
            "nothing published (exit 1 when the new version would break callers).",
        ),
    ] = False,
    as_json: AsJson = False,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Publish a version of one of your services (publishers)."""
    from splp.documents import read_document
    from splp.errors import ConfigurationError

    try:
        document = read_document(descriptor)
    except ConfigurationError as exc:
        fail(exc)
    if dry_run:
        _show_preview(
            call_directory(directory_url, token, "POST", "/services/preview", document), as_json
        )
        return
    detail = call_directory(directory_url, token, "POST", "/services", document)
    if as_json:
        print_json(detail)
        return
    typer.echo(f"published {detail['ref']} version {detail['version']} in theme {detail['theme']}")
    for warning in detail.get("warnings") or []:
        typer.echo(f"warning: {warning}", err=True)


OUTCOMES = {
    "new-service": "a new service, nothing to compare with",
    "new-major": "a new major version, nothing to compare with",
    "compatible": "compatible: no caller breaks",
    "breaking": "BREAKING: publish it as a new major version",
}


def _show_preview(report: dict[str, Any], as_json: bool) -> None:
    """The dry run's report; exit 1 when the version would break callers."""
    if as_json:
        print_json(report)
    else:
        against = f" against {report['current_version']}" if report["current_version"] else ""
        typer.echo(
            f"dry run: {report['ref']} version {report['version']}{against}: "
            f"{OUTCOMES.get(report['outcome'], report['outcome'])}; nothing published"
        )
        for reason in report["breaking_changes"]:
            typer.echo(f"  breaks: {reason}")
        for change in report["changes"]:
            where = f" {change['operation']}" if change.get("operation") else ""
            typer.echo(f"  change: {change['change']}{where}")
        for warning in report["warnings"]:
            typer.echo(f"warning: {warning}", err=True)
    if not report["publishable"]:
        raise typer.Exit(1)


@service_app.command("list", epilog="Example:\n\n  splp service list --theme kependudukan")
def list_services(
    theme: Annotated[str | None, typer.Option(help="Only this theme.")] = None,
    publisher: Annotated[str | None, typer.Option(help="Only this publisher.")] = None,
    text: Annotated[str | None, typer.Option("--text", "-q", help="Words to find.")] = None,
    as_json: AsJson = False,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Search the directory."""
    found = call_directory(
        directory_url, token, "GET", "/services", theme=theme, publisher=publisher, q=text
    )
    if as_json:
        print_json(found)
        return
    print_table(found, ("ref", "version", "theme", "lifecycle", "title"), "no service found")


@service_app.command("show", epilog="Example:\n\n  splp service show dukcapil.penduduk.v1")
def show(
    ref: Ref,
    as_json: AsJson = False,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Show a service: versions, operations and their JSON Schemas."""
    detail = call_directory(directory_url, token, "GET", f"/services/{ref}")
    if as_json:
        print_json(detail)
        return
    _print_detail(detail)


def _print_detail(detail: dict[str, Any]) -> None:
    import json

    typer.echo(f"{detail['ref']}  {detail['title']}")
    typer.echo(f"  theme: {detail['theme']}  classification: {detail['classification']}")
    if detail["description"]:
        typer.echo(f"  {detail['description']}")
    versions = ", ".join(f"{v['version']} ({v['lifecycle']})" for v in detail["versions"])
    typer.echo(f"  versions: {versions}")
    if detail.get("subject_field"):
        typer.echo(f"  data subject: {detail['subject_field']} (audited as a keyed HMAC)")
    if detail.get("personal_fields"):
        typer.echo(f"  personal fields: {', '.join(detail['personal_fields'])}")
    data = detail.get("data_management")
    if data:
        typer.echo(
            f"  {data['kind']} data; steward (walidata): {data['steward']}; "
            f"updated: {data.get('update_frequency') or '-'}; "
            f"source of truth: {data.get('source_of_truth') or '-'}"
        )
        if data.get("authoritative_for"):
            typer.echo(f"  the one source for: {', '.join(data['authoritative_for'])}")
    for name, operation in detail["descriptor"]["operations"].items():
        typer.echo(f"  operation {name}: {operation.get('description', '')}")
        for part in ("request", "response"):
            schema = json.dumps(operation[part], indent=2, ensure_ascii=False)
            typer.echo(f"    {part} schema:")
            typer.echo("\n".join("      " + line for line in schema.splitlines()))


@service_app.command(
    "openapi",
    epilog="Examples:\n\n  splp service openapi dukcapil.penduduk.v1 > penduduk.json\n\n"
    "  splp service openapi dukcapil.penduduk.v1 --server https://splp.bungokab.go.id "
    "--openapi 3.0 > penduduk-nasional.json",
)
def openapi(
    ref: Ref,
    server: Annotated[
        str | None,
        typer.Option(
            help="The HTTP gateway's URL (splp gateway serve): the document's server and "
            "OAuth2 token URL.",
            show_default=False,
        ),
    ] = None,
    openapi_version: Annotated[
        str,
        typer.Option(
            "--openapi", help="OpenAPI version: 3.1, or 3.0 for the national SPLP's portal."
        ),
    ] = "3.1",
    as_json: AlwaysJson = False,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Print the OpenAPI document of a service, as the gateway at --server serves it."""
    from splp.errors import ContractError

    if openapi_version not in ("3.1", "3.0"):
        fail(ContractError(f"--openapi must be 3.1 or 3.0, not {openapi_version!r}"))
    params = {"openapi": openapi_version, **({"server": server} if server else {})}
    print_json(call_directory(directory_url, token, "GET", f"/services/{ref}/openapi", **params))


@service_app.command(
    "lifecycle", epilog="Example:\n\n  splp service lifecycle dukcapil.penduduk.v1 1.0.0 deprecated"
)
def lifecycle(
    ref: Ref,
    version: Annotated[str, typer.Argument(help="The version, e.g. 1.0.0.")],
    state: Annotated[str, typer.Argument(help="published, deprecated or retired.")],
    reason: Annotated[str, typer.Option(help="Why.")] = "",
    as_json: AsJson = False,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Deprecate, retire or re-publish one version (its publisher or an administrator)."""
    body = {"lifecycle": state, "reason": reason}
    changed = call_directory(
        directory_url, token, "PUT", f"/services/{ref}/versions/{version}/lifecycle", body
    )
    if as_json:
        print_json(changed)
        return
    typer.echo(f"{ref} version {version} is {state}")
