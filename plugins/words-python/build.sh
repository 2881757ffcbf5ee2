#!/usr/bin/env bash
set -euo pipefail
cd "$(dirname "$0")"
export PYTHONPATH=.pydeps
python3 .pydeps/bin/componentize-py -d ../../wit -w plugin componentize app -o words.wasm
