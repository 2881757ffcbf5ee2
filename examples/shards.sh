#!/usr/bin/env bash
# One job as N shards in parallel processes, then one merged result: what a
# batch engine does with N machines (see docs/batch-engines.md), on one.
#
#   cargo build && examples/shards.sh [N] [MERGE-OPTIONS...]
#
# Runs the bundled plugin over examples/records.txt as N shards (default 3),
# each `sandmap run --shard K/N --format jsonl` writing part-K.jsonl, then
# `sandmap merge`s the parts to stdout (jsonl; pass `--format raw` for text).
# Set SANDMAP, PLUGIN and INPUT to run something else.
set -euo pipefail

sandmap=${SANDMAP:-target/debug/sandmap}
plugin=${PLUGIN:-plugins/upper-wat/upper.wat}
input=${INPUT:-examples/records.txt}
n=${1:-3}
shift || true

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

pids=()
parts=()
for ((k = 0; k < n; k++)); do
    parts+=("$work/part-$k.jsonl")
    "$sandmap" run "$plugin" "$input" --shard "$k/$n" --deterministic \
        --format jsonl --quiet -o "$work/part-$k.jsonl" &
    pids+=($!)
done

# Exit 1 only says some record failed: its line is in the part. Anything
# else (2: bad plugin, input or options; a signal) loses the shard.
for k in "${!pids[@]}"; do
    code=0
    wait "${pids[$k]}" || code=$?
    if ((code > 1)); then
        echo "shards.sh: shard $k/$n failed (exit $code)" >&2
        exit "$code"
    fi
done

"$sandmap" merge "${parts[@]}" "$@"
