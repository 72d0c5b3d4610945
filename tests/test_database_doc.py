"""docs/database.md holds the ER diagram that `splp schema er-diagram` draws from the models."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from splp.cli import app
from splp.control_plane.er_diagram import (
    BEGIN,
    END,
    markdown,
    mermaid,
    replace_between_markers,
    stores,
)

DOCS = Path(__file__).resolve().parent.parent / "docs"
DOC = DOCS / "database.md"


@pytest.mark.parametrize("page", ["database.md", "id/database.md"])
def test_the_documented_er_diagram_is_the_models_diagram(page: str) -> None:
    document = (DOCS / page).read_text(encoding="utf-8")
    assert document == replace_between_markers(document, markdown()), (
        f"docs/{page} is stale: the models changed. Refresh it with\n"
        f"    splp schema er-diagram --write docs/{page}"
    )


def test_every_table_column_and_foreign_key_is_drawn() -> None:
    for metadata in stores().values():
        diagram = mermaid(metadata)
        for table in metadata.tables.values():
            assert f"    {table.name} {{" in diagram
            for column in table.columns:
                assert f" {column.name}" in diagram
                for fk in column.foreign_keys:
                    left = "|o" if column.nullable else "||"
                    assert (
                        f'{fk.column.table.name} {left}--o{{ {table.name} : "{column.name}"'
                        in diagram
                    )


def test_the_command_rewrites_only_the_part_between_the_markers(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(f"# title\n\n{BEGIN}\nold diagram\n{END}\n\nafter\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["schema", "er-diagram", "--write", str(page)])
    assert result.exit_code == 0, result.output
    text = page.read_text(encoding="utf-8")
    assert text.startswith("# title\n\n") and text.endswith(f"{END}\n\nafter\n")
    assert "old diagram" not in text and "erDiagram\n    access_events {" in text


def test_the_command_refuses_a_page_without_markers(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("no markers\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["schema", "er-diagram", "--write", str(page)])
    assert result.exit_code == 2
    assert page.read_text(encoding="utf-8") == "no markers\n"


def test_one_store_as_bare_mermaid() -> None:
    result = CliRunner().invoke(app, ["schema", "er-diagram", "--store", "audit"])
    assert result.exit_code == 0 and result.output.startswith("erDiagram\n    audit_anchors {")
    assert "\n    audit_records {" in result.output
    assert CliRunner().invoke(app, ["schema", "er-diagram", "--store", "x"]).exit_code == 2
