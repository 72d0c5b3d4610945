"""Every log line of the suite, checked for secrets after each test (pytest plugin).

A handler on the root logger keeps each record, formatted with its traceback, from the
first fixture to the last teardown. After each test the lines it produced are searched
for every secret registered so far; a hit fails the test in its teardown, naming the kind
of secret and the logger, never the secret itself. Lines logged after the last test are
checked when the session ends.

What is captured:

* ``splp`` and its children at DEBUG (the plugin lowers the ``splp`` logger to DEBUG);
* the libraries that :data:`splp.cli.app.QUIETED_LOGGERS` keeps at WARNING in production
  (httpx, httpcore, aiormq, aio_pika, uvicorn.access) at WARNING and above only: at DEBUG
  httpx prints full URLs and aiormq whole frames, payloads included, which is why
  production never runs them lower. Their loggers keep whatever level a test sets (so
  ``caplog`` still sees everything); only this check filters;
* every other library at the level it runs with.

What is searched for (:data:`SECRETS`):

* every directory API token, broker password, client secret, API key and subject HMAC
  key the directory mints, in any test or fixture: the plugin wraps ``new_token``,
  ``new_password``, ``new_client_secret``, ``new_api_key`` and ``new_secret`` (of
  :mod:`splp.directory_service.subject_keys`) where the directory calls them, records
  what they return, and changes nothing else;
* secrets tests make themselves (broker passwords through the management API), which
  they register with ``SECRETS.add(value, "broker password")``;
* :data:`PAYLOAD_MARKER`, which tests put inside request payloads: audit records and log
  lines carry metadata, never payloads.

:func:`check_text` applies the same search to other output, e.g. a subprocess's stderr.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from splp.cli.app import QUIETED_LOGGERS

PAYLOAD_MARKER = "SECRET-PAYLOAD-MARKER-5c1f9e"
FORMAT = "%(levelname)s %(name)s: %(message)s"
_RUN = re.compile(r"[A-Za-z0-9_-]+")  # token_urlsafe, hex and the marker use only these


class Secrets:
    """Secret values by kind; finds them in text without scanning once per secret."""

    def __init__(self) -> None:
        self._kinds: dict[str, str] = {}
        self._lengths: set[int] = set()
        self._others: dict[str, str] = {}  # values with other characters: searched plainly

    def add(self, value: str, kind: str) -> str:
        """Register ``value`` (a token, password or marker) as a secret of ``kind``."""
        if len(value) < 8:
            raise ValueError(f"a {kind} of {len(value)} characters is too short to search for")
        if _RUN.fullmatch(value):
            self._kinds[value] = kind
            self._lengths.add(len(value))
        else:
            self._others[value] = kind
        return value

    def kinds_in(self, text: str) -> set[str]:
        """The kinds of the registered secrets that occur in ``text``."""
        found = {kind for value, kind in self._others.items() if value in text}
        for match in _RUN.finditer(text):
            run = match.group()
            for length in self._lengths:
                for start in range(len(run) - length + 1):
                    kind = self._kinds.get(run[start : start + length])
                    if kind is not None:
                        found.add(kind)
        return found


SECRETS = Secrets()
SECRETS.add(PAYLOAD_MARKER, "request payload marker")


class SuiteLog(logging.Handler):
    """Keeps formatted log lines, with their logger names, until they are checked."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(logging.Formatter(FORMAT))
        self.lines: list[tuple[str, str]] = []
        self.total = 0
        self._taking = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        quiet = any(name == q or name.startswith(q + ".") for q in QUIETED_LOGGERS[1:])
        return record.levelno >= logging.WARNING or not quiet

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # a broken record is the test's business, not this check's
            line = f"{record.name}: {record.msg!r} {record.args!r}"
        with self._taking:
            self.lines.append((record.name, line))
            self.total += 1

    def take(self) -> list[tuple[str, str]]:
        with self._taking:
            lines, self.lines = self.lines, []
        return lines


def leaks(lines: list[tuple[str, str]]) -> list[str]:
    """``"<kind> in N line(s) of <logger>"`` for every secret found, worded without it."""
    counts: dict[tuple[str, str], int] = {}
    for name, line in lines:
        for kind in SECRETS.kinds_in(line):
            counts[kind, name] = counts.get((kind, name), 0) + 1
    return [f"a {kind} in {n} line(s) of logger {name}" for (kind, name), n in counts.items()]


def check_text(text: str, where: str) -> None:
    """Fail the test if ``text`` (e.g. a subprocess's stderr) holds a registered secret."""
    found = SECRETS.kinds_in(text)
    if found:
        pytest.fail(f"{where} shows {', '.join(sorted(found))} (value withheld)", pytrace=False)


_HANDLER = SuiteLog()
_SPIES: list[tuple[Any, str, Callable[..., str]]] = []


def _spy(module: Any, name: str, kind: str) -> None:
    """Wrap ``module.name`` so that every value it returns is registered as a ``kind``."""
    original = getattr(module, name)

    def minted(*args: Any, **kwargs: Any) -> str:
        return SECRETS.add(original(*args, **kwargs), kind)

    _SPIES.append((module, name, original))
    setattr(module, name, minted)


def pytest_configure(config: pytest.Config) -> None:
    from splp.directory_service import applications, parties, subject_keys
    from splp.directory_service.routes import parties as party_routes

    _spy(parties, "new_token", "directory API token")
    _spy(party_routes, "new_password", "broker password")
    _spy(applications, "new_client_secret", "client secret")
    _spy(applications, "new_api_key", "API key")
    _spy(subject_keys, "new_secret", "subject HMAC key")
    logging.getLogger().addHandler(_HANDLER)
    logging.getLogger("splp").setLevel(logging.DEBUG)


def pytest_unconfigure(config: pytest.Config) -> None:
    logging.getLogger().removeHandler(_HANDLER)
    for module, name, original in reversed(_SPIES):
        setattr(module, name, original)
    _SPIES.clear()


@pytest.fixture(autouse=True)
def _no_secret_in_logs() -> Iterator[None]:
    """Fails a test whose log lines hold a token, a password or a payload marker.

    ``splp`` is set back to DEBUG first: a CLI command run in-process by a module or
    session fixture sets it to the command's level, outside any test's restore."""
    logging.getLogger("splp").setLevel(logging.DEBUG)
    yield
    found = leaks(_HANDLER.take())
    if found:
        pytest.fail("secret in the log: " + "; ".join(found) + " (values withheld)", pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def _no_secret_in_late_logs() -> Iterator[None]:
    """The same check for lines logged while session fixtures are torn down."""
    yield
    found = leaks(_HANDLER.take())
    if found:
        pytest.fail("secret in the log: " + "; ".join(found) + " (values withheld)", pytrace=False)
