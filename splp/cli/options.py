"""The options that several command groups share, and the settings they make.

``--directory-url`` and ``--token`` for every command that talks to a running directory,
``--database-url`` for those that open the directory store, ``--amqp-url`` and
``--management-url`` for those that reach the broker; each falls back to the ``SPLP_*``
variable of :class:`~splp.settings.Settings` with the same name.

A URL option with a password in it is refused when given on the command line, where every
user of the machine sees it (``ps``, ``/proc``, shell history): the same URL is taken
from its variable, or from the file that ``SPLP_<NAME>_FILE`` names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

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


def no_password_on_the_command_line(
    ctx: typer.Context, param: typer.CallbackParam, value: str | None
) -> str | None:
    """Refuse a URL with a password given as an option (from the variable it is fine)."""
    # by name: typer carries its own copy of click's ParameterSource
    source = getattr(ctx.get_parameter_source(param.name or ""), "name", None)
    if value and source == "COMMANDLINE" and _has_password(value):
        variable = param.envvar if isinstance(param.envvar, str) else "SPLP_..."
        raise typer.BadParameter(
            "a password on the command line is visible to every user of this machine; "
            f"put the URL in {variable}, or in a file readable by you only named by "
            f"{variable}_FILE"
        )
    return value


def _has_password(url: str) -> bool:
    try:
        return bool(urlsplit(url).password)
    except ValueError:
        return False


DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="SPLP_DATABASE_URL",
        help="The store (default sqlite+aiosqlite:///splp.db); with a password, only "
        "from SPLP_DATABASE_URL or SPLP_DATABASE_URL_FILE.",
        callback=no_password_on_the_command_line,
    ),
]
AmqpUrl = Annotated[
    str | None,
    typer.Option(
        "--amqp-url",
        envvar="SPLP_AMQP_URL",
        help="Broker URL; with a password, only from SPLP_AMQP_URL or SPLP_AMQP_URL_FILE.",
        callback=no_password_on_the_command_line,
        show_default=False,
    ),
]
ManagementUrl = Annotated[
    str | None,
    typer.Option(
        "--management-url",
        envvar="SPLP_MANAGEMENT_URL",
        help="RabbitMQ management API; with a password, only from SPLP_MANAGEMENT_URL or "
        "SPLP_MANAGEMENT_URL_FILE.",
        callback=no_password_on_the_command_line,
        show_default=False,
    ),
]


def settings_from(**overrides: str | None) -> Settings:
    """:class:`Settings` from the environment, with the CLI options that were given."""
    from splp.settings import Settings

    return Settings(**{k: v for k, v in overrides.items() if v})  # type: ignore[arg-type]
