//! Writing results: raw or JSON lines, each record whole.
//!
//! Results are gathered in a buffer and written out only at record
//! boundaries, so whatever stops the run, the output ends on a whole
//! record.

use std::io::Write;

use base64::Engine as _;
use sandmap::RecordError;
use serde::Serialize;

use super::args::Format;
use super::escape::{for_terminal, output_for_terminal};

/// Buffered bytes that trigger a write.
const FLUSH_AT: usize = 64 * 1024;

/// Where results go.
pub struct Sink {
    out: Box<dyn Write>,
    buffer: Vec<u8>,
    format: Format,
    delimiter: u8,
    /// Output goes to a terminal: escape what the guest wrote.
    terminal: bool,
}

#[derive(Serialize)]
struct OkLine<'a> {
    index: u64,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_base64: Option<String>,
}

#[derive(Serialize)]
struct ErrorLine<'a> {
    index: u64,
    status: &'static str,
    kind: &'static str,
    message: &'a str,
}

impl Sink {
    /// A sink writing `format` to `out`, records separated by `delimiter`.
    /// When `terminal`, raw output has its control characters escaped.
    pub fn new(out: Box<dyn Write>, format: Format, delimiter: u8, terminal: bool) -> Self {
        Sink {
            out,
            buffer: Vec::with_capacity(FLUSH_AT * 2),
            format,
            delimiter,
            terminal,
        }
    }

    /// Writes a successful record.
    ///
    /// # Errors
    /// When the output cannot be written (a closed pipe, a full disk).
    pub fn ok(&mut self, index: u64, output: &[u8]) -> std::io::Result<()> {
        match self.format {
            Format::Raw if self.terminal => {
                self.buffer
                    .extend_from_slice(output_for_terminal(output).as_bytes());
                if output.last() != Some(&self.delimiter) {
                    self.buffer.push(self.delimiter);
                }
            }
            Format::Raw => {
                self.buffer.extend_from_slice(output);
                if output.last() != Some(&self.delimiter) {
                    self.buffer.push(self.delimiter);
                }
            }
            Format::Jsonl => {
                let line = match std::str::from_utf8(output) {
                    Ok(text) => OkLine {
                        index,
                        status: "ok",
                        output: Some(text),
                        output_base64: None,
                    },
                    Err(_) => OkLine {
                        index,
                        status: "ok",
                        output: None,
                        output_base64: Some(
                            base64::engine::general_purpose::STANDARD.encode(output),
                        ),
                    },
                };
                serde_json::to_writer(&mut self.buffer, &line)?;
                self.buffer.push(b'\n');
            }
        }
        self.maybe_flush()
    }

    /// Reports a failed record: a JSON object in jsonl, one stderr line in
    /// raw (the stdout stream gets nothing).
    ///
    /// # Errors
    /// When the output cannot be written.
    pub fn error(&mut self, index: u64, error: &RecordError) -> std::io::Result<()> {
        match self.format {
            Format::Raw => {
                let line = format!(
                    "sandmap: record {index}: {}\n",
                    for_terminal(&error.message)
                );
                // stderr is unbuffered: this line is whole when it lands.
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
                Ok(())
            }
            Format::Jsonl => {
                let line = ErrorLine {
                    index,
                    status: "error",
                    kind: error.kind.as_str(),
                    message: &error.message,
                };
                serde_json::to_writer(&mut self.buffer, &line)?;
                self.buffer.push(b'\n');
                self.maybe_flush()
            }
        }
    }

    fn maybe_flush(&mut self) -> std::io::Result<()> {
        if self.buffer.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes out everything buffered (whole records only).
    ///
    /// # Errors
    /// When the output cannot be written.
    pub fn flush(&mut self) -> std::io::Result<()> {
        if !self.buffer.is_empty() {
            self.out.write_all(&self.buffer)?;
            self.buffer.clear();
        }
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandmap::ErrorKind;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn written(format: Format, f: impl FnOnce(&mut Sink)) -> String {
        let out = Shared::default();
        let mut sink = Sink::new(Box::new(out.clone()), format, b'\n', false);
        f(&mut sink);
        sink.flush().unwrap();
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn raw_adds_a_delimiter_only_when_missing() {
        let text = written(Format::Raw, |s| {
            s.ok(0, b"a").unwrap();
            s.ok(1, b"b\n").unwrap();
            s.ok(2, b"").unwrap();
        });
        assert_eq!(text, "a\nb\n\n");
    }

    #[test]
    fn jsonl_matches_the_spec() {
        let text = written(Format::Jsonl, |s| {
            s.ok(0, b"HELLO").unwrap();
            s.ok(1, &[0xff, 0xfe, 0x00]).unwrap();
            s.error(
                2,
                &RecordError::new(ErrorKind::Fuel, "fuel exhausted (limit 1000000)"),
            )
            .unwrap();
        });
        assert_eq!(
            text,
            "{\"index\":0,\"status\":\"ok\",\"output\":\"HELLO\"}\n\
             {\"index\":1,\"status\":\"ok\",\"output_base64\":\"//4A\"}\n\
             {\"index\":2,\"status\":\"error\",\"kind\":\"fuel\",\"message\":\"fuel exhausted (limit 1000000)\"}\n"
        );
    }
}
