#!/usr/bin/env bash
# Set everything up (scripts/setup.sh), then run the whole test suite: pytest first (extra
# arguments go to pytest), then the linters `ruff check splp tests bench` and `mypy`, and the
# layer contracts of pyproject.toml's [tool.importlinter] (`lint-imports`).
# Every step runs even when an earlier one failed; the exit status is non-zero if any did.
# pytest collecting no test (exit 5) counts as a failure.
# SPLP_SKIP_LINT=1 skips ruff, mypy and lint-imports (quicker while iterating on one test).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh

failed=()
step() {
    local name="$1" rc=0
    shift
    echo "test: $*"
    "$@" || rc=$?
    if [ "$rc" -ne 0 ]; then
        if [ "$name" = pytest ] && [ "$rc" -eq 5 ]; then
            echo "test: pytest collected no tests (exit 5): counted as a failure" >&2
        fi
        failed+=("$name (exit $rc)")
    fi
}

step pytest .venv/bin/python -m pytest "$@"
if [ "${SPLP_SKIP_LINT:-0}" = 1 ]; then
    echo "test: SPLP_SKIP_LINT=1: ruff, mypy and lint-imports skipped"
else
    lint_dirs=()
    for dir in splp tests bench; do
        if [ -d "$dir" ]; then lint_dirs+=("$dir"); else echo "test: no $dir/ to lint"; fi
    done
    step ruff .venv/bin/ruff check "${lint_dirs[@]}"
    step mypy .venv/bin/mypy
    step lint-imports .venv/bin/lint-imports
fi

if [ "${#failed[@]}" -gt 0 ]; then
    echo "test: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "test: all steps succeeded"
