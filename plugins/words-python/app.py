"""`words`, in Python: the polyglot example job (see `plugins/polyglot/JOB.md`).

A UTF-8 record becomes `{"words":N,"text":"<RECORD>"}`: N counts runs of
non-whitespace, the text is ASCII-uppercased and JSON-escaped. An empty
record or invalid UTF-8 raises `Err`, which the component returns as `err`.
"""

import re

from componentize_py_types import Err
from wit_world import exports

# Exactly the six ASCII whitespace characters of JOB.md (str.split() with no
# argument would also split on Unicode whitespace such as U+2028).
WORD = re.compile("[^ \t\n\r\x0b\x0c]+")
# ASCII a-z only: str.upper() would also change é to É and ß to SS.
UPPER = {c: c - 32 for c in range(ord("a"), ord("z") + 1)}
# JSON escapes by hand: json.dumps would escape non-ASCII characters and U+007F
# differently.
ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\x08": "\\b", "\x0c": "\\f"}
ESCAPES.update({chr(c): f"\\u{c:04x}" for c in range(0x20) if chr(c) not in ESCAPES})


class Mapper(exports.Mapper):
    def map(self, input: bytes) -> bytes:
        if not input:
            raise Err("empty record")
        try:
            text = input.decode("utf-8")  # strict: errors="strict" is the default
        except UnicodeDecodeError as e:
            raise Err(f"invalid UTF-8: {e}")
        words = len(WORD.findall(text))
        escaped = "".join(ESCAPES.get(c, c) for c in text.translate(UPPER))
        return f'{{"words":{words},"text":"{escaped}"}}'.encode()
