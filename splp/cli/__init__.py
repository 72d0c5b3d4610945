"""The ``splp`` command: one Typer app (:mod:`splp.cli.app`), one module per command group.

Heavy imports stay inside the commands so that ``splp --help`` is fast.
"""

from __future__ import annotations

from splp.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
