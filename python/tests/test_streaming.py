"""imap streams: records are taken as workers need them (an endless
generator is fine, memory stays bounded) and results come as they finish
(a slow generator's first results arrive before it ends)."""

import itertools
import time

import pytest

import sandmap


def rss_mib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def endless(size):
    for i in itertools.count():
        yield b"%d:" % i + b"x" * size


@pytest.mark.parametrize("ordered", [True, False])
def test_imap_over_an_endless_generator_keeps_memory_bounded(upper, ordered):
    # 60,000 records of 10 KB (600 MB) pass through; what is held at any
    # time is bounded by the run's in-flight budget, not by the input.
    with sandmap.Pool(upper, jobs=2) as pool:
        results = pool.imap(endless(10_000), ordered=ordered)
        seen = 0
        for result in results:
            assert result.ok and result.output.startswith(b"%d:X" % result.index)
            seen += 1
            if seen == 5_000:
                settled = rss_mib()
            if seen == 60_000:
                break
        grown = rss_mib() - settled
        results.close()
    assert grown < 64, f"RSS grew by {grown:.0f} MiB while 550 MB more passed through"


def test_a_slow_generator_streams_its_results(upper):
    def slow():
        for i in range(20):
            time.sleep(0.05)
            yield b"r%d" % i

    with sandmap.Pool(upper, jobs=2) as pool:
        started = time.monotonic()
        arrivals = [(r.index, time.monotonic() - started) for r in pool.imap(slow())]
    assert [i for i, _ in arrivals] == list(range(20))
    # The first result comes right after the first record, not after the
    # last (which is yielded at 1 s).
    assert arrivals[0][1] < 0.5
    assert arrivals[-1][1] >= 1.0


def test_imap_can_be_abandoned_midway(upper):
    with sandmap.Pool(upper, jobs=2) as pool:
        results = pool.imap(endless(100))
        first = [next(results) for _ in range(10)]
        assert [r.index for r in first] == list(range(10))
        del results  # dropping the iterator cancels its run
        assert pool.map([b"still", b"works"]) == [b"STILL", b"WORKS"]


EXIT_SCRIPT = """
import itertools, sys, time
import sandmap

pool = sandmap.Pool(sys.argv[1], jobs=2)

def slow():
    for i in itertools.count():
        time.sleep(0.001)
        yield b"r%d" % i

results = pool.imap(slow())
print(next(results).output.decode(), flush=True)
# Exits with the run going on: its feeder must not touch the interpreter
# while it is finalized.
"""


def test_exiting_with_a_run_going_on_is_clean(upper, tmp_path):
    import subprocess
    import sys

    script = tmp_path / "exit_with_run.py"
    script.write_text(EXIT_SCRIPT)
    for _ in range(5):
        done = subprocess.run(
            [sys.executable, str(script), upper], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == "R0\n"
        assert "Fatal Python error" not in done.stderr
