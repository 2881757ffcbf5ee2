"""Pool.map and Pool.imap: results, errors, record types, order."""

import pickle
import threading
import time

import pytest

import sandmap


def test_map_returns_outputs_in_input_order(upper):
    records = [b"record %d" % i for i in range(20_000)]
    with sandmap.Pool(upper, jobs=2) as pool:
        assert pool.map(records) == [r.upper() for r in records]


def test_every_record_type_is_accepted(upper):
    with sandmap.Pool(upper, jobs=1) as pool:
        records = [b"bytes", bytearray(b"array"), memoryview(b"view"), "str \u00e9", memoryview(b"xslicex")[1:6]]
        assert pool.map(records) == [b"BYTES", b"ARRAY", b"VIEW", "STR \u00e9".encode(), b"SLICE"]
        assert pool.map(iter([])) == []


def test_a_record_of_the_wrong_type_is_a_type_error(upper):
    with sandmap.Pool(upper, jobs=1) as pool:
        with pytest.raises(TypeError, match=r"record 2 is int"):
            pool.map([b"a", b"b", 3, b"d"])
        with pytest.raises(TypeError, match="records must be an iterable"):
            pool.map(42)
        with pytest.raises(TypeError, match="record 0 is NoneType"):
            list(pool.imap([None]))
        # The pool still works.
        assert pool.map([b"ok"]) == [b"OK"]


def test_map_raises_record_error_for_the_first_failure(upper):
    with sandmap.Pool(upper, jobs=2) as pool:
        records = [b"x"] * 5000 + [b""] + [b"y"] * 5000 + [b""]
        with pytest.raises(sandmap.RecordError) as caught:
            pool.map(records)
        error = caught.value
        assert (error.index, error.kind, error.message) == (5000, "guest", "empty record")
        assert str(error) == "record 5000: empty record"
        assert isinstance(error, sandmap.Error)
        # Attributes survive pickling (Dask and Ray ship exceptions so).
        again = pickle.loads(pickle.dumps(error))
        assert (again.index, again.kind, again.message) == (5000, "guest", "empty record")


def test_map_stops_the_run_at_the_first_failure(stall):
    # Record 0 fails at once (timeout is per record), the "sleep" records
    # behind it would take an hour each: map must not wait for them.
    with sandmap.Pool(stall, jobs=2, timeout="100ms") as pool:
        started = time.monotonic()
        with pytest.raises(sandmap.RecordError) as caught:
            pool.map([b"spin"] + [b"sleep"] * 50 + [b"x"])
        assert caught.value.kind == "timeout"
        assert caught.value.index == 0
        assert time.monotonic() - started < 2.0


def test_imap_gives_a_result_per_record_and_never_raises_for_one(upper):
    with sandmap.Pool(upper, jobs=2) as pool:
        results = list(pool.imap([b"a", b"", b"c"]))
    assert [r.index for r in results] == [0, 1, 2]
    assert [r.ok for r in results] == [True, False, True]
    assert [r.output for r in results] == [b"A", None, b"C"]
    assert [r.kind for r in results] == [None, "guest", None]
    assert [r.message for r in results] == [None, "empty record", None]
    assert repr(results[1]) == 'sandmap.Result(index=1, kind="guest", message="empty record")'
    again = pickle.loads(pickle.dumps(results[0]))
    assert (again.index, again.output, again.kind) == (0, b"A", None)


def test_imap_unordered_gives_every_result_once_as_they_finish(stall):
    # Record 0 sleeps until its timeout; the others finish long before:
    # unordered, they come first.
    with sandmap.Pool(stall, jobs=2, timeout="300ms") as pool:
        results = list(pool.imap([b"sleep"] + [b"r%d" % i for i in range(1, 200)], ordered=False))
        assert sorted(r.index for r in results) == list(range(200))
        assert results[-1].index == 0 and results[-1].kind == "timeout"
        assert all(r.output == b"r%d" % r.index for r in results[:-1])
        # In order, the same records come back in input order.
        ordered = list(pool.imap([b"sleep", b"a", b"b"]))
        assert [r.index for r in ordered] == [0, 1, 2]


def test_an_exception_of_the_records_iterator_is_raised_as_is(upper):
    class Boom(Exception):
        pass

    def records():
        yield b"a"
        yield b"b"
        raise Boom("from the generator")

    with sandmap.Pool(upper, jobs=2) as pool:
        with pytest.raises(Boom, match="from the generator"):
            pool.map(records())
        seen = []
        with pytest.raises(Boom):
            for result in pool.imap(records()):
                seen.append(result.output)
        # imap gives the results before the exception, like a generator.
        assert seen == [b"A", b"B"]


def test_limits_are_applied(stall, upper):
    with sandmap.Pool(stall, jobs=1, timeout=0.05) as pool:
        [result] = pool.imap([b"spin"])
        assert result.kind == "timeout"
    with sandmap.Pool(stall, jobs=1, fuel=100_000) as pool:
        [result] = pool.imap([b"spin"])
        assert result.kind == "fuel"
    with sandmap.Pool(upper, jobs=1, max_output="4KiB") as pool:
        [small, big] = pool.imap([b"a" * 4096, b"a" * 4097])
        assert small.ok and big.kind == "output"


def test_cancel_from_another_thread_stops_map(stall):
    with sandmap.Pool(stall, jobs=2) as pool:
        timer = threading.Timer(0.2, pool.cancel)
        timer.start()
        started = time.monotonic()
        with pytest.raises(sandmap.Cancelled):
            pool.map([b"spin", b"sleep", b"x"])
        assert time.monotonic() - started < 2.0
        timer.join()
        # The pool stays usable.
        assert pool.map([b"again"]) == [b"again"]


def test_cancel_ends_imap_with_cancelled_after_the_finished_results(stall):
    def records():
        yield b"done"
        yield b"spin"
        while True:
            yield b"never run"

    with sandmap.Pool(stall, jobs=1) as pool:
        results = pool.imap(records())
        first = next(results)
        assert first.output == b"done"
        threading.Timer(0.1, pool.cancel).start()
        seen = []
        with pytest.raises(sandmap.Cancelled):
            for result in results:
                seen.append(result)
        assert seen and seen[0].index == 1 and seen[0].kind == "interrupted"


def test_closing_an_imap_iterator_stops_its_run(stall):
    with sandmap.Pool(stall, jobs=2) as pool:
        with pool.imap([b"a", b"spin", b"spin"]) as results:
            assert next(results).output == b"a"
        # Both workers were spinning: had the run not been stopped, this
        # would wait behind them for ever.
        assert pool.map([b"b"]) == [b"b"]
        assert list(results) == []


def test_close_and_context_manager(upper):
    pool = sandmap.Pool(upper, jobs=1)
    with pool as entered:
        assert entered is pool
        assert not pool.closed
    assert pool.closed
    with pytest.raises(ValueError, match="Pool is closed"):
        pool.map([b"a"])
    with pytest.raises(ValueError, match="Pool is closed"):
        pool.imap([b"a"], ordered=False)
    pool.close()  # twice is fine


def test_several_threads_may_share_a_pool(upper):
    with sandmap.Pool(upper, jobs=2) as pool:
        outputs = {}

        def work(n):
            outputs[n] = pool.map([b"t%d-%d" % (n, i) for i in range(2000)])

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for n in range(4):
        assert outputs[n] == [b"T%d-%d" % (n, i) for i in range(2000)]


def test_pool_describes_itself(upper):
    with sandmap.Pool(upper, jobs=2, timeout="250ms", env={"A": "1"}, cache=False) as pool:
        assert pool.plugin == upper
        assert pool.jobs == 2
        assert pool.kind == "mapper"
        assert pool.cache_outcome is None
        assert repr(pool) == (
            f"sandmap.Pool({upper!r}, jobs=2, timeout='250ms', env={{'A': '1'}}, cache=False)"
        )
        assert pool.options["timeout"] == "250ms"
