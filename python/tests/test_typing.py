"""The type stubs: mypy sees the API of the installed package (py.typed)
and catches misuse."""

import subprocess
import sys
import textwrap

import pytest

GOOD = """
    import datetime
    from typing import List, Optional

    import sandmap

    pool = sandmap.Pool("p.wasm", jobs=2, timeout="250ms", max_memory="64MiB",
                        env={"A": "1"}, dirs={"/data": "/in"}, cache=False)
    pool2 = sandmap.Pool("p.wasm", timeout=datetime.timedelta(seconds=1), max_output=1 << 20)
    outputs: List[bytes] = pool.map([b"a", bytearray(b"b"), memoryview(b"c"), "d"])
    for result in pool.imap(iter([b"x"]), ordered=False):
        index: int = result.index
        output: Optional[bytes] = result.output
        kind: Optional[str] = result.kind
    try:
        pool.map([b""])
    except sandmap.RecordError as error:
        where: int = error.index
        what: str = error.kind
    with pool, pool.imap([b"y"]) as results:
        first: sandmap.Result = next(results)
    pool.cancel()
    hit: Optional[str] = pool.cache_outcome
"""

BAD = """
    import sandmap

    pool = sandmap.Pool("p.wasm", jobs="two")
    count: int = pool.map([b"a"])
    pool.imap([1, 2])
"""


def mypy(tmp_path, name, source):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )


@pytest.fixture(autouse=True)
def needs_mypy():
    pytest.importorskip("mypy")


def test_mypy_accepts_correct_use(tmp_path):
    done = mypy(tmp_path, "good.py", GOOD)
    assert done.returncode == 0, done.stdout


def test_mypy_catches_misuse(tmp_path):
    done = mypy(tmp_path, "bad.py", BAD)
    assert done.returncode == 1, done.stdout
    assert 'Argument "jobs" to "Pool" has incompatible type "str"' in done.stdout
    assert 'Incompatible types in assignment (expression has type "list[bytes]", variable has type "int")' in done.stdout
    assert 'List item 0 has incompatible type "int"; expected "bytes | bytearray | memoryview[int] | str"' in done.stdout


def test_the_stubs_match_the_compiled_module(tmp_path):
    # stubtest imports the installed package and compares every name and
    # signature with the stubs.
    done = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "sandmap"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
