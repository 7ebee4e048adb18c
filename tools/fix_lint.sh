#!/usr/bin/env bash
# Run once after the parallel branches are merged: applies every automatic fix so that `make lint` only has the
# findings that need a person left, then lists those and the mypy / import-linter findings.
# Usage: tools/fix_lint.sh            (uses .venv/bin; BIN=/path/to/bin tools/fix_lint.sh for another venv)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}

# 1. Safe fixes only (import order, unused imports, pyupgrade, simple comprehensions), then the formatter, then the
#    safe fixes again: formatting can expose a few more. Never --unsafe-fixes: those change behaviour (zip strict=,
#    dict.keys() on non-dicts) and each needs reading.
"$BIN/ruff" check --fix --exit-zero --quiet .
"$BIN/ruff" format --quiet .
"$BIN/ruff" check --fix --exit-zero --quiet .

# 2. What is left for a person. The usual ones:
#    B905 zip() without strict=: strict=True where both sides must have one item per row (a silent truncation
#         would drop user data), strict=False only with a comment saying why lengths may differ.
#    E501 the formatter cannot split a long string: split it, or shorten the message.
#    E402 an import below other statements (studio/data/frame.py, tests/engine/test_engine_restart.py): move it up.
#    SIM118/RUF059/RUF043/SIM105/...: follow ruff's message.
echo "== ruff (left after the automatic fixes)"
"$BIN/ruff" check --output-format concise . || true
echo "== mypy"
# shellcheck disable=SC2046  # the folders that exist, as `make types` checks them
"$BIN/mypy" $(ls -d studio app_pages ui 2>/dev/null) || true
echo "== import-linter"
"$BIN/lint-imports" || true
echo "Then: make lint types contracts"
