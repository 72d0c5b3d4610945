"""The logger tree: every SPLP logger is a child of ``splp``.

Log lines carry metadata (ids, names, statuses, durations), never payloads or secrets.
"""

from __future__ import annotations

import logging

root = logging.getLogger("splp")


def get_logger(name: str) -> logging.Logger:
    """``get_logger("adapter")`` is the ``splp.adapter`` logger."""
    return root.getChild(name)
