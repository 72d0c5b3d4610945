"""Would a new minor or patch version of a service break the callers of the old one?

Pure code, so a publisher can run the same check offline, before it publishes, as the
directory runs when it does.

The request schema may only widen (every request an old caller sends is still accepted);
the response schema may only narrow (every reply is still what old callers were promised).
Both are the same structural check, "the wide schema covers the narrow one", with two
tolerances every API relies on: a request may declare new optional fields, and a response
may carry new fields. A response field that disappears is reported even when the new
schema could not produce it, because callers read it.

What the check cannot decide (a changed ``oneOf``, ``allOf``, ``not``, ``if``, pattern,
external ``$ref``...) is reported as ``cannot verify compatibility of ...``, never passed
silently; local ``$ref`` (``#/...`` and ``#anchor``) are followed.

>>> from splp.bus.compat import check_version_bump
>>> from splp.bus.descriptor import load_descriptor
>>> old = load_descriptor("penduduk.yaml")  # doctest: +SKIP
>>> check_version_bump(old, load_descriptor("penduduk-1.1.yaml"))  # doctest: +SKIP
[]
"""

from __future__ import annotations

from splp.bus.compat.versions import breaking_changes, check_version_bump, version_key

__all__ = ["breaking_changes", "check_version_bump", "version_key"]
