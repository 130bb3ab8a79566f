#!/usr/bin/env bash
# Remake the console screenshots in docs/console/ (shown in README.md and docs/console.md) by
# running the console's browser tests against sovits local with screenshots switched on.
set -euo pipefail
cd "$(dirname "$0")/.."
SOVITS_CONSOLE_SCREENSHOTS=docs/console .venv/bin/python -m pytest -q -p no:cacheprovider \
  tests/console/test_console_local.py "$@"
