#!/usr/bin/env bash
# The whole test suite, from a fresh machine that has rustup and cargo
# (and, for the polyglot examples and the Python package, python3/pip,
# node/npm and apt).
#
# 1. Formatting and lints: `cargo fmt --check`, `cargo clippy
#    --all-targets -- -D warnings`, and rustdoc with warnings as errors.
# 2. Unit, doc and end-to-end tests: the test plugins are built from
#    plugins/ by tests/artifacts/build.rs, so the wasm targets are
#    installed first.
# 3. The polyglot examples (plugins/words-*): each language's toolchain is
#    installed, each example built with it and run through sandmap, and
#    every output compared with plugins/polyglot/expected.jsonl.
# 4. The Python package: its wheel built (with the same profile and target
#    directory as the Rust tests, so wasmtime compiles once), installed in
#    a virtual environment, and its tests run, Dask and Ray included.
#
# Arguments are passed to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
step() { printf '\n== %s\n' "$*"; }

step "toolchain"
rustup target add wasm32-wasip1 wasm32-wasip2
rustup component add rustfmt clippy

step "format"
cargo fmt --all -- --check

step "tests"
cargo test --workspace --locked "$@"

step "lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "docs"
RUSTDOCFLAGS=-Dwarnings cargo doc --no-deps --locked -p sandmap

step "polyglot examples"
plugins/polyglot/check.sh "$CARGO_TARGET_DIR/debug/sandmap"

step "Python package"
python/test.sh -q
