#!/usr/bin/env bash
# Builds every plugins/words-* example with its own toolchain, runs each
# through `sandmap run` over sample.txt, and compares with expected.jsonl.
# A language that fails to build or whose output differs fails the check.
#
#   plugins/polyglot/check.sh [SANDMAP_BINARY] [LANGUAGE...]
#
# Each example folder has `install.sh` (installs its toolchain; idempotent)
# and `build.sh` (its one build command; writes words.wasm in the folder).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
plugins="$(dirname "$here")"
root="$(dirname "$plugins")"
sandmap="${1:-$root/target/release/sandmap}"
shift || true
languages=("$@")
if [ ${#languages[@]} -eq 0 ]; then
    languages=(rust python js c go)
fi

normalize() {
    python3 -c '
import json, sys
for line in sys.stdin.buffer:
    value = json.loads(line)
    value.pop("message", None)
    sys.stdout.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n")
'
}

passed=0
failed=0
for language in "${languages[@]}"; do
    dir="$plugins/words-$language"
    echo "== words-$language"
    if ! (cd "$dir" && ./install.sh && ./build.sh); then
        echo "FAILED: words-$language does not build"
        failed=$((failed + 1))
        continue
    fi
    actual="$(mktemp)"
    "$sandmap" run "$dir/words.wasm" "$here/sample.txt" --format jsonl -q | normalize > "$actual" || true
    if diff -u "$here/expected.jsonl" "$actual"; then
        echo "ok: words-$language matches expected.jsonl"
        passed=$((passed + 1))
    else
        echo "FAILED: words-$language output differs"
        failed=$((failed + 1))
    fi
    rm -f "$actual"
done
echo "polyglot: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
