#!/usr/bin/env bash
# Set up (tool + test tools), then run the whole test suite. Fails on any failure and when no
# test ran (pytest exit code 5).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
set +e
# Three workers by default (FLOWSTACKS_TEST_WORKERS=0 runs in one process); each test file stays on
# one worker, so module fixtures (an oracle session, a run-local session) run once.
.venv/bin/python -m pytest -n "${FLOWSTACKS_TEST_WORKERS:-3}" --dist loadfile "$@"
code=$?
set -e
if [[ $code -eq 5 ]]; then
  echo "test.sh: pytest collected no tests: failing" >&2
  exit 1
fi
exit $code
