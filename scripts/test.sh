#!/usr/bin/env bash
# The whole test suite, from a fresh machine that has rustup and cargo
# (and, for the polyglot examples, python3/pip, node/npm and apt).
#
# 1. Unit and end-to-end tests: test plugins are built from plugins/ by
#    tests/artifacts/build.rs, so the wasm targets are installed first.
# 2. The polyglot examples (plugins/words-*): each language's toolchain is
#    installed, each example built with it and run through sandmap, and
#    every output compared with plugins/polyglot/expected.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip1 wasm32-wasip2
cargo test --workspace --locked "$@"
plugins/polyglot/check.sh "$PWD/target/debug/sandmap"
