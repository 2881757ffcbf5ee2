//! `words`, in Rust: the polyglot example job (see `plugins/polyglot/JOB.md`).
//! A UTF-8 record becomes `{"words":N,"text":"<RECORD>"}`: N counts runs of
//! non-whitespace, the text is ASCII-uppercased and JSON-escaped. An empty
//! record or invalid UTF-8 returns `err`.

wit_bindgen::generate!({ world: "plugin", path: "../../wit" });

use exports::sandmap::plugin::mapper::Guest;

struct Words;

impl Guest for Words {
    fn map(input: Vec<u8>) -> Result<Vec<u8>, String> {
        if input.is_empty() {
            return Err("empty record".into());
        }
        let text = std::str::from_utf8(&input).map_err(|e| format!("invalid UTF-8: {e}"))?;
        let words = text
            .split([' ', '\t', '\n', '\r', '\x0b', '\x0c'])
            .filter(|w| !w.is_empty())
            .count();
        let mut out = format!("{{\"words\":{words},\"text\":\"");
        for c in text.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\x08' => out.push_str("\\b"),
                '\x0c' => out.push_str("\\f"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c.to_ascii_uppercase()),
            }
        }
        out.push_str("\"}");
        Ok(out.into_bytes())
    }
}

export!(Words);
