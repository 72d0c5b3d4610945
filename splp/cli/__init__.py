"""The ``splp`` command: one Typer app, one sub-app (or command) per module.

Each module registers itself here; heavy imports stay inside the commands so that
``splp --help`` is fast.
"""

from __future__ import annotations

import splp.cli.audit  # (audit sink, verify, tail)
import splp.cli.directory  # noqa: F401  (directory, party, theme, service, access)
from splp.cli import adapter, call, demo, erd, report  # noqa: F401  (register commands)
from splp.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
