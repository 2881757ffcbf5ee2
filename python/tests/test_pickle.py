"""A Pool pickles as its plugin's bytes and options; unpickled elsewhere it
compiles once (from the compile cache) and works."""

import concurrent.futures
import multiprocessing
import pickle

import sandmap


def _map_in_child(pool, records):
    """Runs in a child process: what the unpickled pool gives and did."""
    return pool.map(records), pool.cache_outcome, pool.options


def test_pickle_carries_plugin_and_options(upper):
    with sandmap.Pool(upper, jobs=1, timeout="250ms", max_output="1KiB", env={"K": "v"}) as pool:
        data = pickle.dumps(pool)
        assert b"cabi_realloc" in data  # the plugin's bytes, not its path
        copy = pickle.loads(data)
    try:
        assert copy.plugin == upper
        assert copy.options == pool.options
        assert copy.map([b"x"]) == [b"X"]
        [too_big] = copy.imap([b"a" * 2000])
        assert too_big.kind == "output"  # the options came along
        assert copy.cache_outcome == "hit"
    finally:
        copy.close()


def test_a_pickled_pool_works_when_its_file_is_gone(upper, tmp_path):
    plugin = tmp_path / "copy.wat"
    plugin.write_bytes(open(upper, "rb").read())
    data = pickle.dumps(sandmap.Pool(plugin, jobs=1))
    plugin.unlink()
    assert pickle.loads(data).map([b"gone"]) == [b"GONE"]


def test_multiprocessing_ships_a_pool_to_spawned_processes(upper):
    records = [b"record %d" % i for i in range(1000)]
    chunks = [records[i : i + 250] for i in range(0, len(records), 250)]
    with sandmap.Pool(upper, jobs=1) as pool:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(2) as processes:
            got = processes.starmap(_map_in_child, [(pool, chunk) for chunk in chunks])
    outputs = [output for chunk, _, _ in got for output in chunk]
    assert outputs == [r.upper() for r in records]
    # Each child loaded the compiled plugin from the cache: no compile.
    assert {outcome for _, outcome, _ in got} == {"hit"}
    assert all(options == pool.options for _, _, options in got)


def test_multiprocessing_fork_context_works_too(upper):
    with sandmap.Pool(upper, jobs=1) as pool:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(2) as processes:
            got = processes.starmap(_map_in_child, [(pool, [b"a", b"b"]), (pool, [b"c"])])
    assert [outputs for outputs, _, _ in got] == [[b"A", b"B"], [b"C"]]


def test_process_pool_executor_ships_a_bound_map(upper):
    records = [b"rec %d" % i for i in range(3000)]
    with sandmap.Pool(upper, jobs=1) as pool:
        with concurrent.futures.ProcessPoolExecutor(
            2, mp_context=multiprocessing.get_context("spawn")
        ) as executor:
            futures = [executor.submit(pool.map, records[i : i + 1000]) for i in range(0, 3000, 1000)]
            outputs = [o for f in futures for o in f.result()]
    assert outputs == [r.upper() for r in records]


def test_record_errors_cross_process_boundaries(upper):
    with sandmap.Pool(upper, jobs=1) as pool:
        with concurrent.futures.ProcessPoolExecutor(
            1, mp_context=multiprocessing.get_context("spawn")
        ) as executor:
            future = executor.submit(pool.map, [b"a", b""])
            error = future.exception()
    assert isinstance(error, sandmap.RecordError)
    assert (error.index, error.kind, error.message) == (1, "guest", "empty record")
