"""``python -m splp`` is the ``splp`` command."""

from splp.cli import main

main()
