// `words`, in JavaScript: the polyglot example job (see `plugins/polyglot/JOB.md`).
// A UTF-8 record becomes `{"words":N,"text":"<RECORD>"}`: N counts runs of
// non-whitespace, the text is ASCII-uppercased and JSON-escaped. An empty
// record or invalid UTF-8 fails: throwing a string makes `map` return `err`.

// Strict UTF-8 (`fatal`), and a leading BOM is kept as text, not dropped.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();
// Exactly the six ASCII whitespace characters of JOB.md (`\s` would also
// match Unicode whitespace such as U+00A0 or U+2028).
const WORD = /[^ \t\n\r\x0b\x0c]+/g;
const ESCAPES = { '"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f" };

function escape(c) {
  return ESCAPES[c] ?? "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0");
}

export const mapper = {
  map(input) {
    if (input.length === 0) {
      throw "empty record";
    }
    let text;
    try {
      text = decoder.decode(input);
    } catch (e) {
      throw `invalid UTF-8: ${e}`;
    }
    const words = (text.match(WORD) ?? []).length;
    const upper = text.replace(/[a-z]/g, (c) => c.toUpperCase());
    const escaped = upper.replace(/["\\\x00-\x1f]/g, escape);
    return encoder.encode(`{"words":${words},"text":"${escaped}"}`);
  },
};
