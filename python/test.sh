#!/usr/bin/env bash
# The Python package's tests, from a clean clone:
#  1. a virtual environment in target/python-venv with the pinned tools of
#     python/requirements-test.txt (maturin, pytest, Dask, Ray, ...);
#  2. the wheel, built by maturin with the dev profile into the workspace's
#     target dir (the profile and dir the Rust tests use: wasmtime compiles
#     once for both), installed into that environment;
#  3. pytest over python/tests (arguments are passed on to it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export CARGO_TARGET_DIR="$root/target"
venv="$root/target/python-venv"
wheels="$root/target/python-wheels"
pip=("$venv/bin/python" -m pip --disable-pip-version-check --quiet)

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"${pip[@]}" install -r python/requirements-test.txt
rm -rf "$wheels"
"$venv/bin/maturin" build --profile dev --locked --interpreter "$venv/bin/python" \
    --manifest-path python/Cargo.toml --out "$wheels"
"${pip[@]}" install --force-reinstall --no-deps "$wheels"/sandmap-*.whl
cd python
# Not `python -m pytest`: that would put python/ first on sys.path, and the
# source folder sandmap/ (without its compiled module) would shadow the
# installed package.
exec "$venv/bin/pytest" "$@"
