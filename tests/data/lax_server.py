"""A server that breaks the wire protocol's MUSTs: it answers everything, checks nothing
and audits nothing (the §14 example before issue 20, less its drop). The conformance kit
must fail it: ``splp conformance serve -- python tests/data/lax_server.py``."""

from __future__ import annotations

import asyncio
import json
import os
import signal

import aiormq
from aiormq import spec
from aiormq.abc import DeliveredMessage


async def main() -> None:
    connection = await aiormq.connect(os.environ["SPLP_AMQP_URL"])
    channel = await connection.channel()

    async def on_request(message: DeliveredMessage) -> None:
        properties = message.header.properties
        assert isinstance(message.delivery, spec.Basic.Deliver)
        if properties.reply_to:
            await channel.basic_publish(
                json.dumps({"nik": "1508010101900001", "name": "Siti", "village": "X"}).encode(),
                exchange="",
                routing_key=properties.reply_to,
                properties=spec.Basic.Properties(
                    correlation_id=properties.correlation_id,
                    content_type="application/json",
                    headers={"splp-protocol": 1, "splp-status": 200},
                ),
            )
        await channel.basic_ack(message.delivery.delivery_tag or 0)

    await channel.basic_consume("splp.svc.dukcapil.penduduk.v1", on_request, no_ack=False)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await connection.close()


if __name__ == "__main__":
    asyncio.run(main())
