"""The usage chart of the audit reports: :mod:`splp.web.chart` (a base module, so that the
portal draws the evaluation report's chart with the same code)."""

from __future__ import annotations

from splp.web.chart import HEIGHT, WIDTH, WORDS, nice_step, usage_chart

__all__ = ["HEIGHT", "WIDTH", "WORDS", "nice_step", "usage_chart"]
