#!/usr/bin/env bash
set -euo pipefail
cd "$(dirname "$0")"
# GOROOT: the Go that install.sh put in .pydeps/; GOTOOLCHAIN=local: never fetch another.
export GOROOT="$PWD/.pydeps/go" GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
GOOS=wasip1 GOARCH=wasm "$GOROOT/bin/go" build -trimpath -ldflags=-s -o words.wasm .
