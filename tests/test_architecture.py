"""The package graph: the layer contracts hold, and they would catch a back-import.

``lint-imports`` (import-linter) checks the contracts of ``[tool.importlinter]`` in
``pyproject.toml`` on every CI run (``scripts/test.sh``). These tests run it on a copy of
the package with one forbidden import added, so a contract that stopped biting (a typo in
a module name, a layer left out) fails here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree), "COLUMNS": "400"}  # one line per contract
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the package and its pyproject.toml to break."""
    shutil.copytree(ROOT / "splp", tmp_path / "splp", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_contracts_hold(tree: Path) -> None:
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "back_import", "contract"),
    [
        ("audit/records.py", "import splp.directory_service.models", "independent of each other"),
        ("directory_service/models.py", "import splp.audit.records", "independent of each other"),
        ("bus/names.py", "import splp.adapters", "Layers"),
        (
            "adapters/service.py",
            "import splp.directory_service.store",
            "never import the directory",
        ),
        ("control_plane/app.py", "import splp.cli", "Layers"),
        ("bus/client.py", "import fastapi", "needs no server or CLI package"),
        ("settings.py", "import sqlalchemy", "needs no server or CLI package"),
        ("gateway/app.py", "import splp.directory_service.store", "Layers"),
        ("adapters/runtime.py", "import splp.gateway", "Layers"),
        ("portal/pages.py", "import splp.directory_service.store", "through the directory's API"),
        ("portal/api.py", "import splp.audit.store", "through the directory's API"),
        ("bus/client.py", "import jinja2", "needs no server or CLI package"),
    ],
)
def test_a_back_import_breaks_a_contract(
    tree: Path, module: str, back_import: str, contract: str
) -> None:
    path = tree / "splp" / module
    path.write_text(path.read_text() + f"\n{back_import}  # deliberately against the layers\n")
    result = lint_imports(tree)
    assert result.returncode != 0, result.stdout
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(contract in line for line in broken), result.stdout


def test_every_package_is_in_a_layer(tree: Path) -> None:
    """A new top-level module must be placed in a layer on purpose (exhaustive contract)."""
    (tree / "splp" / "stray.py").write_text('"""A module no layer names."""\n')
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "stray" in result.stdout + result.stderr
