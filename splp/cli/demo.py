"""``splp demo``: run the end-to-end demo on the embedded defaults."""

from __future__ import annotations

from typing import Annotated

import typer

from splp.cli.app import app, run, settings_from


@app.command(epilog="Example:\n\n  splp demo\n\n  SPLP_VHOST=splp-demo splp demo")
def demo(
    vhost: Annotated[
        str | None, typer.Option(envvar="SPLP_VHOST", help="Virtual host to use.")
    ] = None,
) -> None:
    """Start a sample agency API and its adapter, make real calls through the bus, show errors.

    Needs the local RabbitMQ with its management plugin (the README's set-up provides both).
    Exits 0 with nothing left running.
    """
    from rich.console import Console

    from splp.demo.run import run_demo

    console = Console(highlight=False)
    settings = settings_from(vhost=vhost)
    with console.status("running the SPLP demo..."):
        calls = run(
            run_demo(settings, lambda line: console.print(line, markup=False, soft_wrap=True))
        )
    console.print(f"demo finished: {calls} calls through the bus", markup=False)
