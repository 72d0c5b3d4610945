"""The options that several command groups share, and the settings they make.

``--directory-url`` and ``--token`` for every command that talks to a running directory,
``--database-url`` for those that open the directory store; each falls back to the
``SPLP_*`` variable of :class:`~splp.settings.Settings` with the same name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from splp.settings import Settings

DEFAULT_URL = "http://127.0.0.1:8470"

DirectoryUrl = Annotated[
    str,
    typer.Option(
        "--directory-url", envvar="SPLP_DIRECTORY_URL", help="Base URL of the directory service."
    ),
]
Token = Annotated[
    str,
    typer.Option(
        "--token", envvar="SPLP_TOKEN", help="Your party's directory API token.", show_default=False
    ),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="SPLP_DATABASE_URL",
        help="The store (default sqlite+aiosqlite:///splp.db).",
    ),
]


def settings_from(**overrides: str | None) -> Settings:
    """:class:`Settings` from the environment, with the CLI options that were given."""
    from splp.settings import Settings

    return Settings(**{k: v for k, v in overrides.items() if v})  # type: ignore[arg-type]
