"""sandmap's Python package against multiprocessing, side by side in one run.

    bench/python_map.sh [--records N] [--plugin P]
        [--sandmap target/release/sandmap] [--rounds 3] [--interrupts 10]

`bench/python_map.sh` builds a release wheel (and the `sandmap` command)
and runs this file with it; run directly, it needs the `sandmap` package
installed in the interpreter that runs it. Prints, each the median of
`--rounds` runs taken in turn:

- `sandmap.Pool(plugin, jobs=2).map(records)` from Python, records/s;
- `multiprocessing.Pool(2).map(upper, records)` with the same function
  written in Python (`bytes.upper`: ASCII only, like the plugin), records/s,
  and the ratio;
- the `sandmap` command over the same records (file in, /dev/null out,
  `-j 2`), when its binary is there: the same work without Python, so the
  difference per record is what the Python boundary costs; also the
  calling thread's CPU time per record during `Pool.map`;
- Ctrl-C: time from SIGINT to KeyboardInterrupt in a child process whose
  two workers spin in a guest loop or sleep in WASI (median and values).

The records: 1,000,000 records of 100 bytes (lower-case ASCII, each
different), built in memory before any timing.
"""

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sandmap

REPO = Path(__file__).resolve().parent.parent


def upper(record: bytes) -> bytes:
    return record.upper()


def make_records(count, size=100):
    alphabet = b"abcdefghijklmnopqrstuvwxyz"
    return [(b"%08d " % i + alphabet * 4)[:size] for i in range(count)]


def time_sandmap(pool, records):
    started = time.perf_counter()
    caller = time.thread_time()
    outputs = pool.map(records)
    caller = time.thread_time() - caller
    elapsed = time.perf_counter() - started
    assert len(outputs) == len(records) and outputs[-1] == records[-1].upper()
    return elapsed, caller


def time_multiprocessing(records):
    with multiprocessing.Pool(2) as pool:
        started = time.perf_counter()
        outputs = pool.map(upper, records)
        elapsed = time.perf_counter() - started
    assert len(outputs) == len(records) and outputs[-1] == records[-1].upper()
    return elapsed


def time_cli(binary, plugin, path, count):
    started = time.perf_counter()
    subprocess.run(
        [binary, "run", plugin, path, "-j", "2", "-q", "-o", "/dev/null"],
        check=True,
    )
    return time.perf_counter() - started


def rate(count, seconds):
    return count / seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--plugin", default=str(REPO / "plugins" / "upper-wat" / "upper.wat"))
    parser.add_argument("--sandmap", default=str(REPO / "target" / "release" / "sandmap"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--interrupts", type=int, default=10)
    args = parser.parse_args()

    records = make_records(args.records)
    count = len(records)
    print(f"python_map: {count:,} records of 100 bytes, {Path(args.plugin).name}, 2 workers")

    pool = sandmap.Pool(args.plugin, jobs=2)
    pool.map(records[:10_000])  # workers started, code warm
    cli = Path(args.sandmap)
    cli_input = None
    if cli.exists():
        cli_input = tempfile.NamedTemporaryFile(suffix=".txt", delete=False)
        cli_input.write(b"\n".join(records) + b"\n")
        cli_input.close()
        time_cli(str(cli), args.plugin, cli_input.name, count)  # fills the compile cache

    sandmap_times, caller_times, mp_times, cli_times = [], [], [], []
    for _ in range(args.rounds):
        elapsed, caller = time_sandmap(pool, records)
        sandmap_times.append(elapsed)
        caller_times.append(caller)
        mp_times.append(time_multiprocessing(records))
        if cli_input:
            cli_times.append(time_cli(str(cli), args.plugin, cli_input.name, count))
    pool.close()

    sm = rate(count, statistics.median(sandmap_times))
    mp = rate(count, statistics.median(mp_times))
    print(f"  sandmap Pool.map (Python):      {sm:>12,.0f} records/s"
          f"  (runs: {', '.join(f'{rate(count, t):,.0f}' for t in sandmap_times)})")
    print(f"  multiprocessing.Pool(2).map:    {mp:>12,.0f} records/s"
          f"  (runs: {', '.join(f'{rate(count, t):,.0f}' for t in mp_times)})")
    print(f"  ratio sandmap / multiprocessing: {sm / mp:.2f}x (target >= 2x)")
    caller_us = statistics.median(caller_times) / count * 1e6
    if cli_times:
        cl = rate(count, statistics.median(cli_times))
        boundary_ns = (1 / sm - 1 / cl) * 1e9
        print(f"  sandmap CLI, file -> /dev/null: {cl:>12,.0f} records/s"
              f"  (runs: {', '.join(f'{rate(count, t):,.0f}' for t in cli_times)})")
        print(f"  Python boundary: {boundary_ns:,.0f} ns/record of wall time over the CLI;"
              f" calling thread's CPU {caller_us * 1000:,.0f} ns/record")
        os.unlink(cli_input.name)
    else:
        print(f"  (no {cli}: CLI line skipped) calling thread's CPU {caller_us * 1000:,.0f} ns/record")

    if args.interrupts:
        sys.path.insert(0, str(REPO / "python" / "tests"))
        from test_interrupt import measure

        stall = str(REPO / "python" / "tests" / "plugins" / "stall.wat")
        reports = measure(stall, args.interrupts)
        latencies = [r["latency"] * 1000 for r in reports]
        print(f"  Ctrl-C -> KeyboardInterrupt: median {statistics.median(latencies):.1f} ms of"
              f" {len(latencies)} (spin and sleep alternating): "
              + ", ".join(f"{v:.1f}" for v in latencies))


if __name__ == "__main__":
    main()
