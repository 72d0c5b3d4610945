"""``splp call``: make one RPC call from the command line and print the reply."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from splp.cli.guard import fail, run
from splp.cli.options import AmqpUrl, settings_from

call_app = typer.Typer()


@call_app.command(
    epilog=(
        "Example:\n\n"
        '  splp call kependudukan dukcapil.penduduk.v1 get-by-nik \'{"nik": "1508010101900001"}\''
    )
)
def call(
    theme: Annotated[str, typer.Argument(help="Theme of the service, e.g. kependudukan.")],
    service: Annotated[
        str, typer.Argument(help="PUBLISHER.SERVICE.vMAJOR, e.g. dukcapil.penduduk.v1.")
    ],
    operation: Annotated[str, typer.Argument(help="Operation name, e.g. get-by-nik.")],
    payload: Annotated[str, typer.Argument(help="The request as a JSON object; '-' reads stdin.")],
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the reply.", min=0.001)
    ] = 10.0,
    amqp_url: AmqpUrl = None,
    vhost: Annotated[str | None, typer.Option(envvar="SPLP_VHOST", help="Virtual host.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Accepted for uniformity: the reply is always JSON.")
    ] = False,
) -> None:
    """Call OPERATION of SERVICE in THEME and print the JSON reply.

    A problem reply is printed on stderr as one line and sets a non-zero exit code:
    1 problem reply, 2 bad input, 3 access denied, 4 unavailable, 5 timeout.
    """
    from splp.bus import Client
    from splp.errors import ContractError

    text = typer.get_text_stream("stdin").read() if payload == "-" else payload
    try:
        body: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(ContractError(f"PAYLOAD is not valid JSON: {exc.msg} at position {exc.pos}"))
    settings = settings_from(amqp_url=amqp_url, vhost=vhost)

    async def go() -> Any:
        async with Client(settings, name="splp-cli") as client:
            return await client.call(theme, service, operation, body, timeout=timeout)

    typer.echo(json.dumps(run(go()), indent=2, ensure_ascii=False))
