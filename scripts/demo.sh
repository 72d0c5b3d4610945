#!/usr/bin/env bash
# Set everything up (scripts/setup.sh) and run the SPLP demo end to end.
# Extra arguments go to `splp demo`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
echo "demo: .venv/bin/splp demo $*"
exec .venv/bin/splp demo "$@"
