#!/usr/bin/env bash
# Installs componentize-py (pinned) into .pydeps/ beside this script, not into
# the system Python; quick when that version is already there.
set -euo pipefail
cd "$(dirname "$0")"
version=0.25.1
if [ "$(cat .pydeps/.version 2>/dev/null)" != "$version" ]; then
    rm -rf .pydeps
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
        --target .pydeps "componentize-py==$version"
    echo "$version" > .pydeps/.version
fi
