#!/usr/bin/env bash
set -euo pipefail
cd "$(dirname "$0")"
# The plugins' workspace builds into ../target unless the caller chose a
# target directory (scripts/test.sh shares one for everything).
target="${CARGO_TARGET_DIR:-../target}"
cargo build --quiet --release --locked --manifest-path ../Cargo.toml --target wasm32-wasip2 -p words-rust
cp "$target/wasm32-wasip2/release/words_rust.wasm" words.wasm
