#!/usr/bin/env bash
# Set up everything flowstacks needs on a fresh machine (Python 3.11, node/npm, network to the
# package registries). Idempotent and fast when already done.
#   scripts/setup.sh          the tool: .venv with flowstacks and its pinned dependencies
#   scripts/setup.sh --test   also the test tools: test extras, asl-validator (npm), Airflow venv
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), "flowstacks needs Python 3.11, found %s" % sys.version.split()[0]'

UV_VERSION="0.13.8"  # the one tests/airflow_check/setup_venv.sh installs
extras=""
[[ "${1:-}" == "--test" ]] && extras="[test]"

if [[ ! -x .venv/bin/python ]]; then
  "$PY" -m venv .venv
fi
marker=".venv/.flowstacks-installed${extras}"
stamp=$(sha1sum pyproject.toml | cut -d' ' -f1)
if [[ ! -f "$marker" || "$(cat "$marker")" != "$stamp" ]]; then
  echo "setup: installing flowstacks${extras} into .venv" >&2
  # uv (a pinned wheel that ships its binary) resolves and installs the same pins as pip would,
  # in seconds instead of ~2 minutes; pip stays in the venv (tasks run `python -m pip`).
  .venv/bin/python -m pip install -q --disable-pip-version-check "uv==${UV_VERSION}"
  .venv/bin/uv pip install -q --python .venv/bin/python --compile-bytecode \
    --upgrade-package pip pip -e ".${extras}"
  echo "$stamp" > "$marker"
fi

if [[ -n "$extras" ]]; then
  if [[ ! -x node_modules/.bin/asl-validator ]]; then
    echo "setup: installing asl-validator (npm)" >&2
    npm ci --no-audit --no-fund --silent
  fi
  bash tests/airflow_check/setup_venv.sh >&2
fi
