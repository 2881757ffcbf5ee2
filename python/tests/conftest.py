"""Shared fixtures: the plugins the tests use, and a compile cache of the
tests' own (set in the environment, so child processes, Dask and Ray
workers use it too)."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

PYTHON_DIR = Path(__file__).resolve().parent.parent
REPO = PYTHON_DIR.parent
# The bundled example plugin: ASCII-uppercases a record; an empty record
# fails with kind "guest", message "empty record".
UPPER = REPO / "plugins" / "upper-wat" / "upper.wat"
# Test plugin: "spin..." loops for ever, "sleep..." blocks an hour in WASI,
# anything else comes back unchanged.
STALL = PYTHON_DIR / "tests" / "plugins" / "stall.wat"

_cache_root = tempfile.mkdtemp(prefix="sandmap-pytest-")
os.environ["SANDMAP_CACHE_DIR"] = os.path.join(_cache_root, "cache")
os.environ["XDG_CONFIG_HOME"] = os.path.join(_cache_root, "config")


@pytest.fixture
def upper():
    return str(UPPER)


@pytest.fixture
def stall():
    return str(STALL)


@pytest.fixture
def repo():
    return REPO


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_cache_root, ignore_errors=True)
