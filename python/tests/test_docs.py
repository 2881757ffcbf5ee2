"""The recipes of docs/python.md, run as they are written: the seed
problem (multiprocessing fails on a closure; the same job with sandmap and
a plugin written in Python), process pools, Dask on a LocalCluster with 2
worker processes, and Ray Data on ray.init(num_cpus=2), each over 10,000
records with every result checked (the recipes assert it)."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

DOC = REPO / "docs" / "python.md"


def recipes():
    """The code blocks of the guide marked `<!-- test: NAME -->`, by name."""
    text = DOC.read_text()
    found = re.findall(r"<!-- test: (\S+) -->\n```python\n(.*?)```", text, re.S)
    return dict(found)


def run(script, cwd, timeout):
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write(tmp_path, name):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(recipes()[name])
    return path


def test_the_guide_has_every_recipe():
    assert set(recipes()) == {
        "seed/redact_mp.py",
        "seed/redact.py",
        "seed/redact_sandmap.py",
        "processes.py",
        "dask_bag.py",
        "ray_data.py",
    }


def test_seed_problem_multiprocessing_cannot_pickle_the_closure(tmp_path):
    script = write(tmp_path, "seed/redact_mp.py")
    done = run(script, script.parent, 120)
    assert done.returncode != 0
    assert "Can't pickle local object" in done.stderr
    assert re.search(r"(PicklingError|AttributeError): Can't pickle local object", done.stderr)


def test_seed_problem_solved_with_a_python_plugin(tmp_path):
    componentize = shutil.which("componentize-py", path=os.path.dirname(sys.executable))
    if componentize is None:
        pytest.skip("componentize-py is not installed (python/test.sh installs it)")
    plugin = write(tmp_path, "seed/redact.py")
    script = write(tmp_path, "seed/redact_sandmap.py")
    build = subprocess.run(
        [componentize, "-d", str(REPO / "wit"), "-w", "plugin", "componentize", "redact", "-o", "redact.wasm"],
        cwd=plugin.parent,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr
    done = run(script, script.parent, 600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[b'*** met ***', b'carol met dave']"


@pytest.mark.parametrize("name", ["processes.py", "dask_bag.py", "ray_data.py"])
def test_engine_recipe_runs_and_checks_every_result(tmp_path, name):
    script = write(tmp_path, name)
    done = run(script, REPO, 900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "10000 records checked" in done.stdout
