"""The child process of the Ctrl-C test (and of the benchmark's latency
figure): runs Pool.map over records that never end by themselves, one on
each of two workers, until the parent sends SIGINT; reports when
KeyboardInterrupt arrived and what was left running.

    python interrupt_child.py PLUGIN

Protocol on stdin/stdout, one line each: the child prints `ready`; for
each `go spin` or `go sleep` it prints `running`, maps, and after the
KeyboardInterrupt prints one JSON object: `at` (time.monotonic() when the
exception arrived), `cpu_ms` (CPU the process used in the 300 ms after),
`threads` and `baseline` (threads of the process after and before the
run), `usable` (the pool maps again afterwards). `quit` ends it.
"""

import json
import os
import signal
import sys
import time

import sandmap


def threads():
    return len(os.listdir("/proc/self/task"))


def cpu():
    t = os.times()
    return t.user + t.system


def main():
    # Python turns SIGINT into KeyboardInterrupt only if SIGINT was not
    # ignored when it started, and a parent running in the background of a
    # non-interactive shell (as CI may) passes it on ignored: restore the
    # default Ctrl-C behaviour this test is about.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    pool = sandmap.Pool(sys.argv[1], jobs=2)
    pool.map([b"warm", b"up"])  # starts the workers: part of the baseline
    baseline = threads()
    print("ready", flush=True)
    for line in sys.stdin:
        command = line.split()
        if command == ["quit"]:
            return
        record = command[1].encode()
        print("running", flush=True)
        try:
            pool.map([record, record])
            print(json.dumps({"error": "map returned"}), flush=True)
            continue
        except KeyboardInterrupt:
            at = time.monotonic()
        before = cpu()
        time.sleep(0.3)
        cpu_ms = (cpu() - before) * 1000
        deadline = time.monotonic() + 1.0
        while threads() != baseline and time.monotonic() < deadline:
            time.sleep(0.01)
        usable = pool.map([b"again", b"after"]) == [b"again", b"after"]
        report = dict(at=at, cpu_ms=cpu_ms, threads=threads(), baseline=baseline, usable=usable)
        print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
