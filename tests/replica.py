"""An adapter replica in its own process: ``python -m tests.replica VHOST SERVICE PREFETCH``.

It serves the echo test service until SIGTERM (graceful) or SIGKILL.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from splp.adapters import Adapter
from splp.settings import Settings
from tests.services import HANDLERS, echo_descriptor


def main() -> None:
    vhost, service, prefetch = sys.argv[1], sys.argv[2], int(sys.argv[3])
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    adapter = Adapter(
        echo_descriptor(service=service),
        HANDLERS,
        Settings(vhost=vhost),
        prefetch=prefetch,
        declare_topology=True,
    )
    asyncio.run(adapter.run(grace=20))


if __name__ == "__main__":
    main()
