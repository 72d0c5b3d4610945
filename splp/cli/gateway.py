"""``splp gateway``: the HTTP entry to the bus for applications that do not speak AMQP."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from splp.cli.guard import fail
from splp.cli.options import settings_from

gateway_app = typer.Typer(
    help="Run the HTTP gateway (OAuth2 client credentials in front of the bus).",
    epilog="Example:\n\n  splp gateway serve --host 0.0.0.0 --port 8480",
    no_args_is_help=True,
)


@gateway_app.command(
    "serve",
    epilog="Example:\n\n  SPLP_GATEWAY_SECRET=... SPLP_TOKEN=... splp gateway serve --port 8480",
)
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8480,
    tls_cert: Annotated[
        Path | None,
        typer.Option(help="Serve HTTPS with this certificate chain (PEM); needs --tls-key."),
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option(help="The private key (PEM) of --tls-cert.")
    ] = None,
) -> None:
    """Serve POST /oauth2/token and POST /api/PUBLISHER/SERVICE/vMAJOR/OPERATION until
    Ctrl-C. Needs SPLP_GATEWAY_SECRET and the gateway party's SPLP_TOKEN."""
    from splp.errors import ConfigurationError

    if (tls_cert is None) != (tls_key is None):
        fail(ConfigurationError("--tls-cert and --tls-key go together: give both or neither"))
    settings = settings_from()
    if settings.gateway_secret is None:
        fail(ConfigurationError("set SPLP_GATEWAY_SECRET (at least 32 characters) first"))
    if settings.token is None:
        fail(ConfigurationError("set SPLP_TOKEN to the token of a party with the gateway role"))
    from splp.gateway import serve as serve_gateway

    serve_gateway(settings, host, port, tls_cert=tls_cert, tls_key=tls_key)
