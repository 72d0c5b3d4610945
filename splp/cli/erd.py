"""``splp schema er-diagram``: the stores' entity-relationship diagram, from the models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from splp.cli.guard import fail

schema_app = typer.Typer(
    help="Describe SPLP's data structures.",
    epilog="Example:\n\n  splp schema er-diagram --store directory",
    no_args_is_help=True,
)


@schema_app.command(
    "er-diagram",
    epilog="Example:\n\n  splp schema er-diagram --write docs/database.md",
)
def er_diagram(
    store: Annotated[
        str | None,
        typer.Option(help="Only this store (directory or audit), as bare Mermaid."),
    ] = None,
    write: Annotated[
        Path | None,
        typer.Option(help="Replace the generated part of this Markdown file, between markers."),
    ] = None,
) -> None:
    """Print a Mermaid erDiagram of the directory and audit stores (Markdown)."""
    from splp.control_plane.er_diagram import markdown, mermaid, replace_between_markers, stores
    from splp.errors import ConfigurationError

    if store is not None:
        known = stores()
        if store not in known:
            fail(ConfigurationError(f"no store {store!r}: choose {' or '.join(known)}"))
        typer.echo(mermaid(known[store]), nl=False)
        return
    generated = markdown()
    if write is None:
        typer.echo(generated, nl=False)
        return
    try:
        updated = replace_between_markers(write.read_text(encoding="utf-8"), generated)
        write.write_text(updated, encoding="utf-8")
    except (OSError, ValueError) as exc:
        fail(ConfigurationError(f"cannot update {write}: {exc}"))
    typer.echo(f"updated the ER diagram in {write}")
