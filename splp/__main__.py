"""``python -m splp`` is the ``splp`` command.

The core wheel (``pip install splp``) installs the ``splp`` script too, without the
packages the command is built on: then it says which extra to install instead of
showing a traceback.
"""

from __future__ import annotations

import sys

CLI_PACKAGES = frozenset({"typer", "click", "rich"})


def main() -> None:
    try:
        from splp.cli import main as run_cli
    except ModuleNotFoundError as exc:
        if exc.name not in CLI_PACKAGES:
            raise
        print(
            f"splp: the command needs its extra ({exc.name} is not installed): "
            "pip install 'splp[cli]' (or 'splp[all]' for the directory and audit servers)",
            file=sys.stderr,
        )
        sys.exit(2)
    run_cli()


if __name__ == "__main__":
    main()
