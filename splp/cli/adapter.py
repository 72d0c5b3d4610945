"""``splp adapter``: run a publisher's config-driven HTTP adapter."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from splp.cli.guard import run
from splp.cli.options import AmqpUrl, settings_from

adapter_app = typer.Typer(
    help="Run publisher adapters.",
    epilog="Example:\n\n  splp adapter run /etc/splp/dukcapil-adapter.yaml --metrics-port 9471",
    no_args_is_help=True,
)


@adapter_app.command("run", epilog="Example:\n\n  splp adapter run /etc/splp/dukcapil-adapter.yaml")
def run_adapter(
    config: Annotated[Path, typer.Argument(help="The adapter configuration (YAML).")],
    declare: Annotated[
        bool,
        typer.Option(
            help="Declare the service's exchange and queue first (needs configure permission)."
        ),
    ] = False,
    amqp_url: AmqpUrl = None,
    vhost: Annotated[str | None, typer.Option(envvar="SPLP_VHOST", help="Virtual host.")] = None,
    metrics_port: Annotated[
        int,
        typer.Option(
            envvar="SPLP_ADAPTER_METRICS_PORT",
            min=0,
            max=65535,
            help="Serve Prometheus metrics on 127.0.0.1:PORT/metrics (0: off).",
        ),
    ] = 0,
) -> None:
    """Serve the service described in CONFIG until SIGTERM or Ctrl-C, then drain and stop."""
    from splp.adapters import run_http_adapter

    run(
        run_http_adapter(
            config,
            settings_from(amqp_url=amqp_url, vhost=vhost),
            declare_topology=declare,
            metrics_port=metrics_port,
        )
    )
