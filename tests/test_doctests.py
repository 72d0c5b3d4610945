"""The examples in the docstrings of ``splp`` run, and say what the code does.

(``pytest --doctest-modules`` would also import the Alembic ``env.py`` scripts, which only
run inside Alembic; this walks the package instead and leaves the migrations out.)
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import splp

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(splp.__path__, "splp.")
    if ".migrations" not in info.name and not info.name.endswith("__main__")
)


def test_the_walk_finds_the_modules_with_examples() -> None:
    assert {"splp.settings", "splp.directory_service.grant_history"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
