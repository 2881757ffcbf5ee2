"""Type stubs of the extension module ``sandmap._sandmap`` (re-exported by
``sandmap``)."""

import datetime
import os
from types import TracebackType
from typing import Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, Type, Union, final

__version__: str
__all__ = [
    "Cancelled",
    "Error",
    "LoadError",
    "Pool",
    "RecordError",
    "Result",
    "ResultIterator",
    "__version__",
    "_shutdown",
    "_unpickle",
]

_Record = Union[bytes, bytearray, memoryview, str]
"""A record: bytes as they are, ``str`` as UTF-8."""
_Seconds = Union[int, float, str, datetime.timedelta]
"""A duration: seconds, a string such as ``"250ms"``, or a timedelta."""
_Size = Union[int, str]
"""A size in bytes: an int, or a string such as ``"64MiB"``."""
_StrPath = Union[str, "os.PathLike[str]"]
_DirGrants = Union[
    Mapping[_StrPath, str], Iterable[Union[_StrPath, Tuple[_StrPath, str]]]
]
"""Read-only directories: ``{host: guest}``, or a list of host directories
(seen at the same path), ``"HOST::GUEST"`` strings or ``(host, guest)``
pairs."""

class Error(Exception):
    """Base class of the exceptions sandmap raises."""

class LoadError(Error):
    """The plugin cannot be loaded (not WebAssembly, invalid, no entry point
    sandmap can run, imports the sandbox does not provide). The message is
    the line the ``sandmap`` command prints."""

class RecordError(Error):
    """A record failed: raised by ``Pool.map`` for the first failed record,
    after the run was stopped."""

    index: int
    """Index of the record in the input, from 0."""
    kind: str
    """``guest``, ``trap``, ``fuel``, ``timeout``, ``memory``, ``output`` or
    ``interrupted``."""
    message: str
    """A one-line explanation (text from the plugin is included as is)."""

class Cancelled(Error):
    """The run was stopped by ``Pool.cancel()`` or ``Pool.close()`` before
    every record ran."""

@final
class Result:
    """One record's outcome, as ``Pool.imap`` gives it."""

    def __new__(
        cls,
        index: int,
        output: Optional[bytes] = None,
        kind: Optional[str] = None,
        message: Optional[str] = None,
    ) -> "Result": ...
    @property
    def index(self) -> int:
        """Index of the record in the input, from 0."""
    @property
    def ok(self) -> bool:
        """Whether the record succeeded."""
    @property
    def output(self) -> Optional[bytes]:
        """The plugin's output; ``None`` for a failed record."""
    @property
    def kind(self) -> Optional[str]:
        """Why the record failed (see ``RecordError.kind``); ``None`` for a
        success."""
    @property
    def message(self) -> Optional[str]:
        """A one-line explanation of the failure; ``None`` for a success."""

@final
class ResultIterator(Iterator[Result]):
    """The results of ``Pool.imap``, as they come."""

    def __iter__(self) -> "ResultIterator": ...
    def __next__(self) -> Result: ...
    def close(self) -> None:
        """Stops the run (records not yet run are not run) and frees its
        workers; safe to call from another thread."""
    def __enter__(self) -> "ResultIterator": ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...

@final
class Pool:
    """Runs a WebAssembly plugin over records, in parallel, in a sandbox.

    ``plugin`` is a ``.wasm`` (component or core module) or ``.wat`` file: a
    component exporting ``sandmap:plugin/mapper``, or a WASI command that
    reads its record on stdin and writes the result to stdout.

    Options (all keyword-only): ``jobs`` worker threads (default: one per
    core); ``fuel`` per record; ``timeout`` per record (seconds, ``"250ms"``
    or a timedelta); ``max_memory`` per instance (default 1 GiB) and
    ``max_output`` per record (default 64 MiB), as ints or ``"64MiB"``;
    ``isolate`` a fresh instance per record; ``env`` variables and ``dirs``
    read-only directories granted to the plugin (nothing is by default);
    ``args`` a command plugin's arguments; ``cache`` where compiled code is
    kept (``True``: the user's cache, ``False``: none, or a directory).

    Raises ``FileNotFoundError`` for a missing plugin, ``LoadError`` for
    one that cannot be loaded, ``TypeError``/``ValueError`` for an option
    of the wrong type or out of range.
    """

    def __new__(
        cls,
        plugin: _StrPath,
        *,
        jobs: Optional[int] = None,
        fuel: Optional[int] = None,
        timeout: Optional[_Seconds] = None,
        max_memory: Optional[_Size] = None,
        max_output: Optional[_Size] = None,
        isolate: bool = False,
        env: Optional[Union[Mapping[str, str], Iterable[Tuple[str, str]]]] = None,
        dirs: Optional[_DirGrants] = None,
        args: Optional[Iterable[str]] = None,
        cache: Union[bool, _StrPath] = True,
    ) -> "Pool": ...
    def map(self, records: Iterable[_Record]) -> List[bytes]:
        """Runs the plugin over ``records``; returns the outputs in input
        order. Raises ``RecordError`` for the first record that fails
        (after stopping the run), ``TypeError`` for a record of the wrong
        type, and whatever the iterable itself raises."""
    def imap(self, records: Iterable[_Record], ordered: bool = True) -> ResultIterator:
        """Runs the plugin over ``records``, streaming one ``Result`` per
        record: in input order, or as records finish with
        ``ordered=False``. A failed record is a ``Result``, not an
        exception. Records are taken as the workers need them, so an
        endless generator is fine."""
    def cancel(self) -> None:
        """Stops every run of this pool, from any thread: ``map`` raises
        ``Cancelled``, ``imap`` ends with it. The pool stays usable."""
    def close(self) -> None:
        """Cancels every run and frees the workers; the pool cannot be used
        afterwards (``ValueError``)."""
    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
    def __enter__(self) -> "Pool": ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...
    @property
    def plugin(self) -> str:
        """The plugin's name (the path it was loaded from)."""
    @property
    def jobs(self) -> int:
        """Worker threads of each run."""
    @property
    def kind(self) -> str:
        """``"mapper"`` or ``"command"``."""
    @property
    def cache_outcome(self) -> Optional[str]:
        """What the compile cache did when the plugin was loaded: ``"hit"``,
        ``"stored"``, ``"not-stored"``, or ``None`` without a cache."""
    @property
    def options(self) -> Dict[str, object]:
        """The options, as keyword arguments of the constructor."""

def _unpickle(name: str, plugin: bytes, options: Dict[str, object]) -> Pool:
    """Rebuilds a pickled ``Pool``."""

def _shutdown() -> None:
    """Stops every run's record source (registered with ``atexit``)."""
