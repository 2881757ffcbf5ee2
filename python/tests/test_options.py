"""The constructor: options, bad arguments, plugins that cannot be loaded."""

import datetime
import os
import pathlib

import pytest

import sandmap


def test_options_are_taken_in_every_documented_form(upper, tmp_path):
    (tmp_path / "data").mkdir()
    forms = [
        dict(jobs=1, fuel=10**9, timeout=2, max_memory=64 << 20, max_output=1 << 20),
        dict(timeout=0.25, max_memory="64MiB", max_output="1 MiB"),
        dict(timeout="1m 30s"),
        dict(timeout=datetime.timedelta(milliseconds=300)),
        dict(isolate=True, env={"A": "1", "B": "two"}, args=["--flag", "x"]),
        dict(env=[("A", "1")], dirs=[str(tmp_path / "data")]),
        dict(dirs={str(tmp_path / "data"): "/data"}),
        dict(dirs=[(tmp_path / "data", "/data"), f"{tmp_path / 'data'}::/in"]),
        dict(cache=False),
        dict(cache=tmp_path / "cache"),
        dict(jobs=None, fuel=None, timeout=None, max_memory=None, env=None, dirs=None, args=None),
    ]
    for options in forms:
        with sandmap.Pool(pathlib.Path(upper), **options) as pool:
            assert pool.map([b"ok"]) == [b"OK"], options


@pytest.mark.parametrize(
    "options, error, text",
    [
        (dict(jobs=0), ValueError, "jobs must be at least 1"),
        (dict(jobs=-2), ValueError, "jobs must not be negative"),
        (dict(jobs=10**30), ValueError, "jobs is too large"),
        (dict(jobs=1_000_000), ValueError, "number of workers must be between 1 and"),
        (dict(jobs=2.0), TypeError, "jobs must be an int, not float"),
        (dict(jobs=True), TypeError, "jobs must be an int, not bool"),
        (dict(jobs="2"), TypeError, "jobs must be an int, not str"),
        (dict(fuel=0), ValueError, "fuel must be at least 1"),
        (dict(fuel=-1), ValueError, "fuel must not be negative"),
        (dict(timeout=-1), ValueError, "timeout must be positive"),
        (dict(timeout=0), ValueError, "timeout must be more than zero"),
        (dict(timeout="0s"), ValueError, "timeout must be more than zero"),
        (dict(timeout=float("nan")), ValueError, "timeout must be positive"),
        (dict(timeout=float("inf")), ValueError, "timeout is too large"),
        (dict(timeout=1e12), ValueError, "time limit per record must be at most"),
        (dict(timeout="soon"), ValueError, 'timeout: "soon" is not a duration'),
        (dict(timeout=[1]), TypeError, "timeout must be seconds"),
        (dict(max_memory=-1), ValueError, "max_memory must not be negative"),
        (dict(max_memory=0), ValueError, "memory limit must be more than zero"),
        (dict(max_memory="lots"), ValueError, 'max_memory: "lots" is not a size'),
        (dict(max_output=1.5), TypeError, "max_output must be an int or a string"),
        (dict(isolate=1), TypeError, "isolate must be a bool, not int"),
        (dict(env={"A": 1}), TypeError, 'env\\["A"\\] must be a str, not int'),
        (dict(env={1: "a"}), TypeError, "each name in env must be a str"),
        (dict(env={"A=B": "c"}), ValueError, "invalid environment variable name"),
        (dict(env="A=1"), TypeError, "env must be a dict of str to str"),
        (dict(dirs="data"), TypeError, "dirs must be a dict"),
        (dict(dirs=["/no/such/dir/anywhere"]), ValueError, "cannot grant directory /no/such/dir/anywhere"),
        (dict(dirs=[42]), TypeError, "each item of dirs must be a path"),
        (dict(args="--flag"), TypeError, "args must be a list of str, not str"),
        (dict(args=[1]), TypeError, "each item of args must be a str, not int"),
        (dict(cache=3), TypeError, "cache must be a bool or a directory"),
        (dict(cache="relative/dir"), None, None),
    ],
)
def test_bad_options_raise_clear_errors(upper, options, error, text, tmp_path, monkeypatch):
    if error is None:
        # A relative cache directory is made absolute: accepted.
        monkeypatch.chdir(tmp_path)
        sandmap.Pool(upper, **options).close()
        assert any((tmp_path / "relative" / "dir").iterdir())
        return
    with pytest.raises(error, match=text):
        sandmap.Pool(upper, **options)


def test_unknown_options_and_positional_options_are_type_errors(upper):
    with pytest.raises(TypeError, match="unexpected keyword argument 'job'"):
        sandmap.Pool(upper, job=2)
    with pytest.raises(TypeError):
        sandmap.Pool(upper, 2)
    with pytest.raises(TypeError):
        sandmap.Pool()
    with pytest.raises(TypeError):
        sandmap.Pool(42)


def test_a_missing_plugin_is_file_not_found(tmp_path):
    missing = tmp_path / "nope.wasm"
    with pytest.raises(FileNotFoundError) as caught:
        sandmap.Pool(missing)
    assert caught.value.filename == str(missing)
    assert caught.value.errno == 2


def test_plugins_that_cannot_load_raise_load_error_with_the_cli_message(tmp_path, repo):
    not_wasm = tmp_path / "notes.txt"
    not_wasm.write_bytes(b"\x00\x01 hello")
    with pytest.raises(sandmap.LoadError) as caught:
        sandmap.Pool(not_wasm)
    assert str(caught.value) == f"{not_wasm} is not a WebAssembly module or component (nor .wat text)"
    assert isinstance(caught.value, sandmap.Error)

    bad_text = tmp_path / "bad.wat"
    bad_text.write_text("(module (func $f (result i32)))")
    with pytest.raises(sandmap.LoadError, match=f"^{bad_text} is not a valid plugin"):
        sandmap.Pool(bad_text)

    no_export = repo / "plugins" / "wrong-exports" / "wrong.wat"
    with pytest.raises(sandmap.LoadError) as caught:
        sandmap.Pool(no_export)
    assert str(caught.value).startswith(f"{no_export}: ")
    assert "\n" not in str(caught.value)

    with pytest.raises(sandmap.LoadError, match="cannot read plugin"):
        sandmap.Pool(tmp_path)  # a directory


def test_the_same_message_as_the_cli(tmp_path, repo):
    cli = repo / "target" / "debug" / "sandmap"
    if not cli.exists():
        pytest.skip("the sandmap binary is not built")
    import subprocess

    not_wasm = tmp_path / "notes.txt"
    not_wasm.write_bytes(b"\x00\x01 hello")
    run = subprocess.run([str(cli), "run", str(not_wasm)], input=b"", capture_output=True)
    assert run.returncode == 2
    with pytest.raises(sandmap.LoadError) as caught:
        sandmap.Pool(not_wasm)
    assert run.stderr.decode().strip() == f"sandmap: error: {caught.value}"
