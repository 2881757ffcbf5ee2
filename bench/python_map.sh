#!/usr/bin/env bash
# The Python benchmark (bench/python_map.py) with a release wheel: builds
# the wheel and the sandmap command in release mode into the workspace's
# target dir, installs the wheel into target/python-bench-venv, and runs
# the benchmark (arguments are passed on to it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export CARGO_TARGET_DIR="$root/target"
venv="$root/target/python-bench-venv"
wheels="$root/target/python-wheels-release"
pip=("$venv/bin/python" -m pip --disable-pip-version-check --quiet)

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"${pip[@]}" install "maturin==1.16.0"
rm -rf "$wheels"
"$venv/bin/maturin" build --release --locked --interpreter "$venv/bin/python" \
    --manifest-path python/Cargo.toml --out "$wheels"
"${pip[@]}" install --force-reinstall --no-deps "$wheels"/sandmap-*.whl
cargo build --release --locked -p sandmap
exec "$venv/bin/python" bench/python_map.py "$@"
