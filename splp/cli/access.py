"""``splp access``: the access procedure of Pasal 7 from the command line.

::

    splp access request dukcapil.penduduk.v1 --operations get-by-nik --reason "bansos checks" \
        --purpose "bansos eligibility" --legal-basis "Permensos 3/2021 Pasal 5" \
        --contact "Kabid Linjamsos, linjamsos@dinsos.example"
    splp access approve 7 --reason "within Dinsos' mandate" \
        --data-protection-note "purpose and legal basis checked; name and village only"
    splp access grant 7 --quota 600 --until 2027-06-30 --fields nik,name,village
    splp access expiring --days 30                                   # re-certification

For a ``personal`` or ``sensitive`` service the request needs ``--purpose``,
``--legal-basis`` and ``--contact``, the approval ``--data-protection-note``, and the grant
``--quota`` and ``--until`` (UU 27/2022).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import typer

from splp.cli.guard import fail
from splp.cli.options import DEFAULT_URL, DirectoryUrl, Token
from splp.cli.output import AsJson, print_json, print_table
from splp.cli.remote import call_directory

access_app = typer.Typer(
    help="Request, approve, grant and revoke access to services.",
    epilog=(
        "Example:\n\n"
        "  splp access request dukcapil.penduduk.v1 --reason 'bansos eligibility'\n"
        "  splp access approve 7 --reason 'within the mandate of Dinsos'\n"
        "  splp access grant 7 --quota 600 --until 2027-06-30 --fields nik,name,village\n"
        "  splp access expiring --days 30"
    ),
    no_args_is_help=True,
)

RequestId = Annotated[int, typer.Argument(help="The access request number.", min=1)]
Reason = Annotated[str, typer.Option("--reason", help="Why; recorded in the request's history.")]


def _limits(request: dict[str, Any]) -> str:
    limits = []
    if request.get("quota_per_minute"):
        limits.append(f"{request['quota_per_minute']}/min")
    if request.get("expires_at"):
        limits.append(f"until {request['expires_at']}")
    if request.get("fields"):
        limits.append("fields " + ",".join(request["fields"]))
    return ", ".join(limits)


def _operations(request: dict[str, Any]) -> str:
    return ",".join(request["operations"]) if request["operations"] else "all operations"


def _print_request(request: dict[str, Any], as_json: bool = False) -> None:
    if as_json:
        print_json(request)
        return
    limits = _limits(request)
    typer.echo(
        f"#{request['id']:<5} {request['state']:<10} {request['requester']:<16} "
        f"{request['service']:<32} {_operations(request)}" + (f" ({limits})" if limits else "")
    )


def _step(
    step: str, request_id: int, body: dict[str, Any], url: str, token: str, as_json: bool
) -> None:
    request = call_directory(url, token, "POST", f"/access-requests/{request_id}/{step}", body)
    _print_request(request, as_json)


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
    purpose: Annotated[
        str | None, typer.Option(help="What the data is for (personal data: required).")
    ] = None,
    legal_basis: Annotated[
        str | None,
        typer.Option(help="The dasar hukum, e.g. a regulation and article (personal data)."),
    ] = None,
    contact: Annotated[
        str | None, typer.Option(help="Who answers for the use of the data (personal data).")
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            help="The expiry wanted, YYYY-MM-DD or ISO date-time (UTC if no zone); "
            "the publisher decides."
        ),
    ] = None,
    as_json: AsJson = False,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Apply for access to SERVICE, for your own party (requesters).

    A personal or sensitive service needs --purpose, --legal-basis and --contact;
    --until (the expiry wanted) is then at most a year away.
    """
    body: dict[str, Any] = {"service": service, "reason": reason}
    for name, value in (("purpose", purpose), ("legal_basis", legal_basis), ("contact", contact)):
        if value is not None:
            body[name] = value
    if until is not None:
        body["expires_wanted"] = parse_until(until)
    if operations is not None:
        body["operations"] = [op.strip() for op in operations.split(",") if op.strip()]
    request = call_directory(directory_url, token, "POST", "/access-requests", body)
    _print_request(request, as_json)


def _simple_step(step: str, who: str, reason: str) -> None:
    def command(
        request_id: RequestId,
        reason: Reason,
        as_json: AsJson = False,
        directory_url: DirectoryUrl = DEFAULT_URL,
        token: Token = "",
    ) -> None:
        _step(step, request_id, {"reason": reason}, directory_url, token, as_json)

    command.__doc__ = f"{step.capitalize()} access request ID ({who}); prints the request."
    example = f"Example:\n\n  splp access {step} 7 --reason '{reason}'"
    access_app.command(step, epilog=example)(command)


@access_app.command(
    "approve",
    epilog="Example:\n\n  splp access approve 7 --reason 'within the mandate of Dinsos' "
    "--data-protection-note 'purpose and legal basis checked'",
)
def approve(
    request_id: RequestId,
    reason: Reason,
    data_protection_note: Annotated[
        str | None,
        typer.Option(
            help="Your data-protection check (purpose, legal basis, fields); required for "
            "personal and sensitive services."
        ),
    ] = None,
    as_json: AsJson = False,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Approve access request ID (administrators); prints the request."""
    body: dict[str, Any] = {"reason": reason}
    if data_protection_note is not None:
        body["data_protection_note"] = data_protection_note
    _step("approve", request_id, body, directory_url, token, as_json)


for _name, _who, _reason in (
    ("reject", "administrators", "not within the mandate of the requester"),
    ("decline", "the publisher that owns the service", "the register is being migrated"),
    ("revoke", "administrators or the owning publisher", "the programme has ended"),
    ("suspend", "administrators or the owning publisher", "unusual request volume"),
    ("resume", "administrators or the owning publisher", "volume explained"),
):
    _simple_step(_name, _who, _reason)


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
    "grant",
    epilog="Example:\n\n  splp access grant 7 --quota 600 --until 2027-06-30 "
    "--fields nik,name,village",
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
    fields: Annotated[
        str | None,
        typer.Option(help="Only these response fields reach the requester (comma-separated)."),
    ] = None,
    reason: Annotated[str, typer.Option(help="Recorded in the request's history.")] = "",
    as_json: AsJson = False,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Grant an approved request ID (the publisher that owns the service).

    A personal or sensitive service needs --quota and --until (at most a year away).
    """
    body: dict[str, Any] = {"reason": reason, "quota_per_minute": quota}
    if until is not None:
        body["expires_at"] = parse_until(until)
    if operations is not None:
        body["operations"] = [op.strip() for op in operations.split(",") if op.strip()]
    if fields is not None:
        body["fields"] = [f.strip() for f in fields.split(",") if f.strip()]
    _step("grant", request_id, body, directory_url, token, as_json)


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
    rows = [{**r, "operations": _operations(r), "limits": _limits(r) or None} for r in requests]
    columns = ("id", "state", "requester", "service", "operations", "limits")
    print_table(rows, columns, "no access request")


@access_app.command("history", epilog="Example:\n\n  splp access history 7")
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
    columns = ("at", "actor", "step", "from_state", "to_state", "reason")
    print_table(events, columns, f"no history for request {request_id}")


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
    rows = [{**g, "operations": _operations(g), "limits": _limits(g) or None} for g in found]
    columns = ("request_id", "requester", "service", "operations", "limits")
    print_table(rows, columns, "no grant in force")


@access_app.command(
    "expiring",
    epilog="Example:\n\n  splp access expiring --days 30\n  splp access expiring --notify",
)
def expiring(
    days: Annotated[
        int | None,
        typer.Option(help="Grants that end within this many days (default 30).", min=1),
    ] = None,
    notify: Annotated[
        bool,
        typer.Option(
            help="Administrators: tell the holder and the publisher of each grant not yet "
            "told for its expiry (an access.recertify event, and e-mail); the directory "
            "also does it every SPLP_RECERTIFY_INTERVAL seconds."
        ),
    ] = False,
    as_json: AsJson = False,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """List the grants to re-certify: those that expire soon (yours, or all for
    administrators and monitors)."""
    path = "/access-grants/expiring" + ("/notify" if notify else "")
    found = call_directory(directory_url, token, "POST" if notify else "GET", path, days=days)
    if as_json:
        print_json(found)
        return
    rows = [{**g, "operations": _operations(g)} for g in found]
    columns = ("request_id", "requester", "publisher", "service", "operations", "expires_at")
    print_table(rows, columns, "no grant expires in that time")
