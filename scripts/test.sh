#!/usr/bin/env bash
# Set up (tool + test tools), then run the whole test suite. Fails on any failure and when no
# test ran (pytest exit code 5).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
set +e
.venv/bin/python -m pytest "$@"
code=$?
set -e
if [[ $code -eq 5 ]]; then
  echo "test.sh: pytest collected no tests: failing" >&2
  exit 1
fi
exit $code
