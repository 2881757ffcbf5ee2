//! Escaping text that came from a plugin before it reaches a terminal: a
//! guest must not be able to move the cursor, change colours, set the
//! clipboard, or reorder or hide text on the user's screen through a name,
//! a message or an output.
//!
//! ```
//! use sandmap::escape::for_terminal;
//! assert_eq!(for_terminal("\u{1b}[2Jgone\u{202e}"), "\\u{1b}[2Jgone\\u{202e}");
//! ```

/// Whether `c` must not reach a terminal raw: C0 and C1 controls, DEL,
/// bidirectional overrides and isolates, invisible formatting characters,
/// and line and paragraph separators.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{061C}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}

/// `text` on one line, with every unsafe character escaped (`\u{1b}`).
pub fn for_terminal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_unsafe(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Guest output bound for a terminal: unsafe characters escaped except
/// newlines and tabs (lines stay lines), invalid UTF-8 shown as U+FFFD.
pub fn output_for_terminal(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_unsafe(c) && c != '\n' && c != '\t' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A line of JSON bound for a terminal: characters JSON leaves raw (DEL,
/// C1, bidi and other unsafe ones) become `\uXXXX` escapes, which keeps
/// the line valid JSON with the same meaning.
pub fn json_for_terminal(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        if is_unsafe(c) && c != '\n' {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_text_is_kept() {
        assert_eq!(
            for_terminal("\u{1b}[2Jhi\nthere é"),
            "\\u{1b}[2Jhi\\nthere é"
        );
        assert_eq!(
            for_terminal("a\u{9b}b\u{202e}c\u{7f}"),
            "a\\u{9b}b\\u{202e}c\\u{7f}"
        );
    }

    #[test]
    fn terminal_output_keeps_lines_and_escapes_the_rest() {
        assert_eq!(
            output_for_terminal(b"a\x1b[31m\tb\nc\xff"),
            "a\\u{1b}[31m\tb\nc\u{fffd}"
        );
    }

    #[test]
    fn json_for_a_terminal_stays_json() {
        let line = json_for_terminal("{\"m\":\"a\u{9b}2J\u{202e}z\"}");
        assert_eq!(line, "{\"m\":\"a\\u009b2J\\u202ez\"}");
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["m"], "a\u{9b}2J\u{202e}z");
    }
}
