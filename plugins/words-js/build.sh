#!/usr/bin/env bash
set -euo pipefail
cd "$(dirname "$0")"
node_modules/.bin/componentize-js app.js --wit ../../wit -n plugin -d http fetch-event -o words.wasm
