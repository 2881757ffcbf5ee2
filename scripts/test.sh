#!/usr/bin/env bash
# The whole test suite, from a fresh machine that has rustup and cargo.
# Test plugins are built from plugins/ by tests/artifacts/build.rs, so the
# wasm targets must be installed first.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip1 wasm32-wasip2
cargo test --workspace --locked "$@"
