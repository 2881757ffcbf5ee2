#!/usr/bin/env bash
# Rust needs only the wasm32-wasip2 target.
set -euo pipefail
rustup target add wasm32-wasip2 >/dev/null
