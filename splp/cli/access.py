"""``splp access``: the access procedure of Pasal 7 from the command line.

::

    splp access request dukcapil.penduduk.v1 --operations get-by-nik --reason "bansos checks"
    splp access approve 7 --reason "within Dinsos' mandate"          # administrator
    splp access grant 7 --quota 600 --until 2027-12-31               # owning publisher
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import typer

from splp.cli.app import app, fail
from splp.cli.directory import DEFAULT_URL, AsJson, DirectoryUrl, Token, call_directory, print_json

access_app = typer.Typer(
    help="Request, approve, grant and revoke access to services.", no_args_is_help=True
)
app.add_typer(access_app, name="access")

RequestId = Annotated[int, typer.Argument(help="The access request number.", min=1)]
Reason = Annotated[str, typer.Option("--reason", help="Why; recorded in the request's history.")]


def _print_request(request: dict[str, Any]) -> None:
    operations = ",".join(request["operations"]) if request["operations"] else "all operations"
    limits = []
    if request.get("quota_per_minute"):
        limits.append(f"{request['quota_per_minute']}/min")
    if request.get("expires_at"):
        limits.append(f"until {request['expires_at']}")
    typer.echo(
        f"#{request['id']:<5} {request['state']:<10} {request['requester']:<16} "
        f"{request['service']:<32} {operations}" + (f" ({', '.join(limits)})" if limits else "")
    )


def _step(step: str, request_id: int, body: dict[str, Any], url: str, token: str) -> None:
    request = call_directory(url, token, "POST", f"/access-requests/{request_id}/{step}", body)
    _print_request(request)


@access_app.command(
    "request",
    epilog=(
        "Example:\n\n  splp access request dukcapil.penduduk.v1 "
        "--operations get-by-nik --reason 'bansos eligibility'"
    ),
)
def request_access(
    service: Annotated[str, typer.Argument(help="PUBLISHER.SERVICE.vMAJOR")],
    reason: Reason,
    operations: Annotated[
        str | None, typer.Option(help="Comma-separated operations; all when left out.")
    ] = None,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Apply for access to SERVICE, for your own party (requesters)."""
    body: dict[str, Any] = {"service": service, "reason": reason}
    if operations is not None:
        body["operations"] = [op.strip() for op in operations.split(",") if op.strip()]
    _print_request(call_directory(directory_url, token, "POST", "/access-requests", body))


def _simple_step(step: str, who: str) -> None:
    def command(
        request_id: RequestId,
        reason: Reason,
        directory_url: DirectoryUrl = DEFAULT_URL,
        token: Token = "",
    ) -> None:
        _step(step, request_id, {"reason": reason}, directory_url, token)

    command.__doc__ = f"{step.capitalize()} access request ID ({who})."
    access_app.command(step)(command)


for _name, _who in (
    ("approve", "administrators"),
    ("reject", "administrators"),
    ("decline", "the publisher that owns the service"),
    ("revoke", "administrators or the owning publisher"),
    ("suspend", "administrators or the owning publisher"),
    ("resume", "administrators or the owning publisher"),
):
    _simple_step(_name, _who)


def parse_until(value: str) -> str:
    """An ISO date or date-time; a date means the end of that day is not included (00:00 UTC)."""
    from splp.errors import ContractError

    try:
        if len(value) == 10:
            return date.fromisoformat(value).isoformat()
        return datetime.fromisoformat(value).isoformat()
    except ValueError:
        fail(ContractError(f"--until {value!r} is not a date: use YYYY-MM-DD or an ISO date-time"))


@access_app.command(
    "grant", epilog="Example:\n\n  splp access grant 7 --quota 600 --until 2027-12-31"
)
def grant(
    request_id: RequestId,
    quota: Annotated[int | None, typer.Option(help="Requests per minute.", min=1)] = None,
    until: Annotated[
        str | None, typer.Option(help="Expiry, YYYY-MM-DD or ISO date-time (UTC if no zone).")
    ] = None,
    operations: Annotated[
        str | None, typer.Option(help="Grant only these operations (comma-separated).")
    ] = None,
    reason: Annotated[str, typer.Option(help="Recorded in the request's history.")] = "",
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Grant an approved request ID (the publisher that owns the service)."""
    body: dict[str, Any] = {"reason": reason, "quota_per_minute": quota}
    if until is not None:
        body["expires_at"] = parse_until(until)
    if operations is not None:
        body["operations"] = [op.strip() for op in operations.split(",") if op.strip()]
    _step("grant", request_id, body, directory_url, token)


@access_app.command("list", epilog="Example:\n\n  splp access list --state submitted")
def list_requests(
    state: Annotated[str | None, typer.Option(help="Only requests in this state.")] = None,
    service: Annotated[str | None, typer.Option(help="Only requests for this service.")] = None,
    as_json: AsJson = False,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """List the access requests you may see."""
    requests = call_directory(
        directory_url, token, "GET", "/access-requests", state=state, service=service
    )
    if as_json:
        print_json(requests)
        return
    if not requests:
        typer.echo("no access request")
    for request in requests:
        _print_request(request)


@access_app.command("history")
def history(
    request_id: RequestId,
    as_json: AsJson = False,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Show every step of a request: when, who, from which state to which, why."""
    events = call_directory(directory_url, token, "GET", f"/access-requests/{request_id}/history")
    if as_json:
        print_json(events)
        return
    for event in events:
        typer.echo(
            f"{event['at']}  {event['actor']:<16} {event['step']:<8} "
            f"{event['from_state'] or '-'} -> {event['to_state']}  {event['reason']}"
        )


@access_app.command(
    "grants", epilog="Example:\n\n  splp access grants --service dukcapil.penduduk.v1"
)
def grants(
    service: Annotated[
        str | None,
        typer.Option(help="The grants of this service of yours (publishers); else your own."),
    ] = None,
    as_json: AsJson = False,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """List grants in force: yours as a requester, or those of one of your services."""
    path = f"/services/{service}/grants" if service else "/me/grants"
    found = call_directory(directory_url, token, "GET", path)
    if as_json:
        print_json(found)
        return
    if not found:
        typer.echo("no grant in force")
    for grant in found:
        operations = ",".join(grant["operations"]) if grant["operations"] else "all operations"
        limits = []
        if grant.get("quota_per_minute"):
            limits.append(f"{grant['quota_per_minute']}/min")
        if grant.get("expires_at"):
            limits.append(f"until {grant['expires_at']}")
        typer.echo(
            f"#{grant['request_id']:<5} {grant['requester']:<16} {grant['service']:<32} "
            f"{operations}" + (f" ({', '.join(limits)})" if limits else "")
        )
