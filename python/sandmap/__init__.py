"""sandmap: map untrusted functions over data, in parallel, in a WebAssembly
sandbox.

``Pool.map`` is what ``multiprocessing.Pool.map`` wants to be for untrusted
code: the function is a WebAssembly plugin (a ``.wasm`` or ``.wat`` file,
written in any language), so nothing is pickled but bytes; each record runs
in a sandbox with limits on fuel, time, memory and output; Ctrl-C stops
every worker at once::

    import sandmap

    with sandmap.Pool("upper.wasm", jobs=2, timeout="250ms") as pool:
        pool.map([b"hello", "world"])            # [b'HELLO', b'WORLD']
        for result in pool.imap(records, ordered=False):
            print(result.index, result.output if result.ok else result.kind)

A ``Pool`` pickles (the plugin's bytes and its options), so
``multiprocessing``, ``concurrent.futures``, Dask and Ray can ship it to
other processes. See ``docs/python.md`` in the repository.
"""

import atexit

from . import _sandmap
from ._sandmap import (
    Cancelled,
    Error,
    LoadError,
    Pool,
    RecordError,
    Result,
    ResultIterator,
    __version__,
)

# Feeder threads take Python records with the GIL: stop them before the
# interpreter is finalized.
atexit.register(_sandmap._shutdown)

__all__ = [
    "Cancelled",
    "Error",
    "LoadError",
    "Pool",
    "RecordError",
    "Result",
    "ResultIterator",
    "__version__",
]
