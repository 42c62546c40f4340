#!/usr/bin/env bash
# Set up, then synthesize the example project's stacks offline into build/ (the main job).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/flowstacks synth --all --out build "$@"
ls build
