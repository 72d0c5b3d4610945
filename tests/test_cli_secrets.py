"""Broker and database credentials never on the command line: a URL with a password given
as an option is refused with a pointer to the environment variable or its ``_FILE``; the
same URL from the environment, or from a file, works (issue 12, secrets)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from splp.cli import app
from splp.settings import Settings

WITH_PASSWORD = {
    "--amqp-url": "amqp://dinsos:rahasia@127.0.0.1:1/splp",
    "--management-url": "http://admin:rahasia@127.0.0.1:1",
    "--database-url": "postgresql+asyncpg://splp:rahasia@127.0.0.1:1/splp",
}


@pytest.mark.parametrize(
    ("args", "option", "variable"),
    [
        (["call", "uji", "uji.echo.v1", "echo", "{}"], "--amqp-url", "SPLP_AMQP_URL"),
        (["adapter", "run", "adapter.yaml"], "--amqp-url", "SPLP_AMQP_URL"),
        (["audit", "tail", "-f"], "--amqp-url", "SPLP_AMQP_URL"),
        (["conformance", "serve", "--", "true"], "--management-url", "SPLP_MANAGEMENT_URL"),
        (["directory", "backup", "b.json"], "--database-url", "SPLP_DATABASE_URL"),
        (["audit", "verify"], "--database-url", "SPLP_AUDIT_DATABASE_URL"),
    ],
)
def test_a_password_in_a_url_option_is_refused(args: list[str], option: str, variable: str) -> None:
    position = args.index("--") if "--" in args else len(args)
    argv = [*args[:position], option, WITH_PASSWORD[option], *args[position:]]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert "rahasia" not in result.output
    assert variable in result.output and f"{variable}_FILE" in result.output


def test_a_url_without_a_password_is_taken_from_the_command_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "directory",
            "backup",
            str(tmp_path / "b.json"),
            "--database-url",
            f"sqlite+aiosqlite:///{tmp_path / 'none.db'}",
        ],
    )
    # taken: the command goes on to find no store there (exit 2 says so, not the option)
    assert "command line" not in result.output, result.output
    assert "splp directory init" in result.output or "does not exist" in result.output


def test_the_same_url_from_the_environment_or_a_file_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "amqp://dinsos:rahasia@127.0.0.1:1/splp"
    result = CliRunner().invoke(
        app,
        ["call", "uji", "uji.echo.v1", "echo", "{}", "--timeout", "1"],
        env={"SPLP_AMQP_URL": url},
    )
    assert result.exit_code == 4, result.output  # it tried the broker: unavailable
    assert "rahasia" not in result.output
    secret = tmp_path / "amqp-url"
    secret.write_text(url + "\n")
    monkeypatch.delenv("SPLP_AMQP_URL", raising=False)
    monkeypatch.setenv("SPLP_AMQP_URL_FILE", str(secret))
    assert Settings().amqp_url == url
    result = CliRunner().invoke(app, ["call", "uji", "uji.echo.v1", "echo", "{}"])
    assert result.exit_code == 4, result.output
    assert "127.0.0.1:1" in result.output and "rahasia" not in result.output
