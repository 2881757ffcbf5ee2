//! Escaping guest text before it reaches a terminal: a guest must not be
//! able to move the cursor, change colours or hide lines on the user's
//! terminal through an error message.

/// `text` with every control character (but none of the printable
/// Unicode) escaped, on one line.
pub fn for_terminal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Guest output bound for a terminal: control characters escaped except
/// newlines and tabs (lines stay lines), invalid UTF-8 shown as U+FFFD.
pub fn output_for_terminal(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.extend(c.escape_default());
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
    }

    #[test]
    fn terminal_output_keeps_lines_and_escapes_the_rest() {
        assert_eq!(
            output_for_terminal(b"a\x1b[31m\tb\nc\xff"),
            "a\\u{1b}[31m\tb\nc\u{fffd}"
        );
    }
}
