#!/usr/bin/env bash
set -euo pipefail
cd "$(dirname "$0")"
cargo build --quiet --release --locked --manifest-path ../Cargo.toml --target wasm32-wasip2 -p words-rust
cp ../target/wasm32-wasip2/release/words_rust.wasm words.wasm
