#!/usr/bin/env bash
# Installs componentize-js (pinned in package.json and package-lock.json) into
# node_modules/; quick when that lock file is already installed.
set -euo pipefail
cd "$(dirname "$0")"
if ! cmp -s package-lock.json node_modules/.installed-lock.json; then
    npm ci --no-audit --no-fund --loglevel=error
    cp package-lock.json node_modules/.installed-lock.json
fi
