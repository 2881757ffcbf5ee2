"""The peer figure: Python's multiprocessing.Pool.map over the same
workloads as sandmap's benchmark (the same functions, byte for byte).

    python3 bench/pool_map.py WORKLOAD RECORDS_FILE PROCESSES

Prints one line: `<records> <seconds>`.
"""
import multiprocessing
import sys
import time


def upper(record: bytes) -> bytes:
    return record.upper()


def hash20k(record: bytes) -> bytes:
    # The algorithm of plugins/hash, in 32-bit unsigned arithmetic.
    h = 0x811C9DC5
    for b in record:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    for rnd in range(20000):
        h ^= h >> 16
        h = (h * 0x7FEB352D) & 0xFFFFFFFF
        h ^= h >> 15
        h = (h * 0x846CA68B) & 0xFFFFFFFF
        h ^= h >> 16
        h = (h + rnd) & 0xFFFFFFFF
    return b"%08x" % h


def main():
    workload, path, processes = sys.argv[1], sys.argv[2], int(sys.argv[3])
    function = {"upper": upper, "hash": hash20k}[workload]
    with open(path, "rb") as f:
        records = f.read().split(b"\n")[:-1]
    # A chunk per process-tick: large enough that pickling per chunk, not
    # per record, dominates; Pool.map's default chunksize is similar.
    chunksize = max(1, len(records) // (processes * 16))
    with multiprocessing.Pool(processes) as pool:
        started = time.perf_counter()
        results = pool.map(function, records, chunksize=chunksize)
        elapsed = time.perf_counter() - started
    assert len(results) == len(records)
    print(len(records), elapsed)


if __name__ == "__main__":
    main()
