"""``splp report``: the evaluation report (Pasal 9(3)b) and the abuse report (Pasal 8(5)b),
through the directory API, for monitors and administrators."""

from __future__ import annotations

import hashlib
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from splp.cli.options import DEFAULT_URL, DirectoryUrl, Token
from splp.cli.output import AsJson, print_json, print_table
from splp.cli.remote import call_directory, directory_bytes, directory_text

report_app = typer.Typer(
    help="Evaluation and supervision reports.",
    epilog="Examples:\n\n  splp report usage --from 2026-01-01 --to 2026-01-31\n\n"
    "  splp report evaluasi --period 2026-S2 --format pdf",
    no_args_is_help=True,
)

USAGE_COLUMNS: tuple[str, ...] = ("day", "name", "calls", "errors", "error_rate", "p50_ms")
USAGE_COLUMNS += ("p95_ms", "denied", "throttled", "active_grants")
ABUSE_COLUMNS = ("requester", "refused", "denied", "throttled", "calls")


def _day(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a day (YYYY-MM-DD)") from None


Since = Annotated[
    str | None,
    typer.Option("--from", callback=_day, help="First day, YYYY-MM-DD (default: 6 days ago)."),
]
Until = Annotated[
    str | None, typer.Option("--to", callback=_day, help="Last day, YYYY-MM-DD (default: today).")
]


@report_app.command(
    "usage",
    epilog="Example:\n\n  splp report usage --from 2026-01-01 --to 2026-01-31 --chart jan.svg",
)
def usage(
    since: Since = None,
    until: Until = None,
    format: Annotated[
        str, typer.Option("--format", help="table, csv or json.", case_sensitive=False)
    ] = "table",
    chart: Annotated[
        Path | None, typer.Option(help="Also write the chart of calls and errors to this SVG.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The same as --format json.")] = False,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Per day, per service and per requester: calls, errors, latency, refusals, grants."""
    format = format.lower()
    if format not in ("table", "csv", "json"):
        raise typer.BadParameter("--format must be table, csv or json")
    if as_json and format == "csv":
        raise typer.BadParameter("--json and --format csv: choose one")
    if as_json:
        format = "json"
    period: dict[str, Any] = {"since": since, "until": until}
    if format == "csv":
        typer.echo(
            directory_text(directory_url, token, "/audit/reports/usage", format="csv", **period),
            nl=False,
        )
    else:
        report = call_directory(directory_url, token, "GET", "/audit/reports/usage", **period)
        if format == "json":
            print_json(report)
        else:
            typer.echo(f"Usage from {report['from']} to {report['to']}")
            for by in ("service", "requester"):
                rows = [{**row, "name": row[by]} for row in report[f"by_{by}"]]
                typer.echo(f"\nBy {by}:")
                print_table(rows, USAGE_COLUMNS, "(no calls)")
    if chart is not None:
        chart.write_text(directory_text(directory_url, token, "/audit/reports/usage.svg", **period))
        typer.echo(f"chart written to {chart}", err=True)


@report_app.command("abuse", epilog="Example:\n\n  splp report abuse --from 2026-01-01 --top 5")
def abuse(
    since: Since = None,
    until: Until = None,
    top: Annotated[int, typer.Option(help="How many requesters.", min=1, max=100)] = 10,
    as_json: AsJson = False,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """The requesters with the most denied or throttled calls in the period."""
    report = call_directory(
        directory_url, token, "GET", "/audit/reports/abuse", since=since, until=until, top=top
    )
    if as_json:
        print_json(report)
        return
    print_table(report["requesters"], ABUSE_COLUMNS, "no refused calls in the period")


EVALUATION_FORMATS = ("pdf", "xlsx", "html", "json")
PERIOD = re.compile(r"^\d{4}(-S[12]|-(0[1-9]|1[0-2]))?$")


def _period(value: str) -> str:
    if not PERIOD.match(value):
        raise typer.BadParameter(
            f"--period {value!r} is not a period: "
            "give YYYY, YYYY-S1, YYYY-S2 or YYYY-MM (e.g. 2026-11)"
        )
    return value


@report_app.command(
    "evaluasi",
    epilog="Examples:\n\n  splp report evaluasi --period 2026 --format pdf --output evaluasi.pdf"
    "\n\n  splp report evaluasi --period 2026-11 --format json",
)
def evaluasi(
    period: Annotated[
        str,
        typer.Option(help="A year (2026), a semester (2026-S2) or a month (2026-11), WIB."),
    ],
    format: Annotated[
        str, typer.Option("--format", help="pdf, xlsx, html or json.", case_sensitive=False)
    ] = "pdf",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write the report to this file (default for pdf and xlsx: "
            "evaluasi-PERIOD.FORMAT; json and html are printed when no file is given).",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print where the report went and its sha256 as JSON.")
    ] = False,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """The evaluation report of a period (Pasal 9): totals per service, requester OD and
    operation, publisher failures apart from caller errors, p50/p95 latency, unused services
    and grants, the access procedure, and a narrative in Bahasa Indonesia. The directory
    records each report it generates in the audit chain with its sha256."""
    period = _period(period)
    format = format.lower()
    if format not in EVALUATION_FORMATS:
        raise typer.BadParameter("--format must be pdf, xlsx, html or json")
    body = directory_bytes(
        directory_url, token, "/audit/reports/evaluasi", period=period, format=format
    )
    digest = hashlib.sha256(body).hexdigest()
    if output is None and format in ("pdf", "xlsx"):
        output = Path(f"evaluasi-{period}.{format}")
    if output is None:  # json or html, printed as they came
        typer.echo(body.decode())
        return
    output.write_bytes(body)  # an OSError is one line and an exit code (splp.cli.guard)
    if as_json:
        print_json({"file": str(output), "format": format, "bytes": len(body), "sha256": digest})
    else:
        typer.echo(f"{output} written ({len(body)} bytes, sha256 {digest})")


PERIOD_HELP = "2026 (a year), 2026-S2 (a semester) or 2026-11 (a month); days cut at WIB."
CHECKS = ("approved_first", "none_expired", "rotated", "no_drift")
HIT_COLUMNS = ("id", "rule", "requester", "service", "operation", "until", "follow_ups")


@report_app.command(
    "pengawasan", epilog="Example:\n\n  splp report pengawasan --period 2026-S2 --json"
)
def pengawasan(
    period: Annotated[str, typer.Option(help=PERIOD_HELP)],
    as_json: AsJson = False,
    directory_url: DirectoryUrl = DEFAULT_URL,
    token: Token = "",
) -> None:
    """The supervision checklist per OD (Pasal 8(6)) and the misuse hits with their
    follow-ups."""
    report = call_directory(directory_url, token, "GET", "/supervision/report", period=period)
    if as_json:
        print_json(report)
        return
    typer.echo(f"Pengawasan {report['period']}: broker drift {report['broker_drift']['status']}")
    rows = [
        {"party": od["party"], **{c: od["checks"][c]["status"] for c in CHECKS}}
        for od in report["ods"]
    ]
    print_table(rows, ("party", *CHECKS), "(no parties)")
    typer.echo("\nMisuse hits:")
    hits = [{**h, "follow_ups": len(h["follow_ups"])} for h in report["misuse_hits"]]
    print_table(hits, HIT_COLUMNS, "(none in the period)")
