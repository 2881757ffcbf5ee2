//! Writing results: raw or JSON lines, each record whole.
//!
//! Results are gathered in a buffer and written out only at record
//! boundaries, so whatever stops the run, the output ends on a whole
//! record.

use std::io::Write;

use base64::Engine as _;
use sandmap::{RecordError, RecordResult};
use serde::Serialize;

use super::args::Format;
use super::escape::{json_for_terminal, output_for_terminal};
use super::report::Report;

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
    /// Bytes written out so far (a journal records where OUT ends).
    written: u64,
}

/// One jsonl line: the fields SPEC §2 names, then the optional ones.
#[derive(Serialize)]
struct Line<'a> {
    index: u64,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_base64: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attempts: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wall_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fuel: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memory: Option<u64>,
}

impl<'a> Line<'a> {
    fn new(result: &RecordResult, status: &'static str) -> Self {
        let stats = result.stats.as_ref();
        Line {
            index: result.index,
            status,
            output: None,
            output_base64: None,
            kind: None,
            message: None,
            attempts: (result.attempts > 1).then_some(result.attempts),
            wall_us: stats.map(|s| u64::try_from(s.wall.as_micros()).unwrap_or(u64::MAX)),
            fuel: stats.and_then(|s| s.fuel),
            memory: stats.map(|s| s.memory),
        }
    }
}

impl Sink {
    /// A sink writing `format` to `out`, records separated by `delimiter`.
    /// When `terminal`, what the guest wrote is escaped.
    pub fn new(out: Box<dyn Write>, format: Format, delimiter: u8, terminal: bool) -> Self {
        Sink {
            out,
            buffer: Vec::with_capacity(FLUSH_AT * 2),
            format,
            delimiter,
            terminal,
            written: 0,
        }
    }

    /// Writes a successful record.
    ///
    /// # Errors
    /// When the output cannot be written (a closed pipe, a full disk).
    pub fn ok(&mut self, result: &RecordResult, output: &[u8]) -> std::io::Result<()> {
        match self.format {
            Format::Raw => {
                if self.terminal {
                    self.buffer
                        .extend_from_slice(output_for_terminal(output).as_bytes());
                } else {
                    self.buffer.extend_from_slice(output);
                }
                if output.last() != Some(&self.delimiter) {
                    self.buffer.push(self.delimiter);
                }
            }
            Format::Jsonl => {
                let mut line = Line::new(result, "ok");
                let encoded;
                match std::str::from_utf8(output) {
                    Ok(text) => line.output = Some(text),
                    Err(_) => {
                        encoded = base64::engine::general_purpose::STANDARD.encode(output);
                        line.output_base64 = Some(encoded);
                    }
                }
                self.push_json(&line)?;
            }
        }
        self.maybe_flush()
    }

    /// Reports a failed record: a JSON object in jsonl; in raw, one line on
    /// stderr through the report (the output stream gets nothing).
    ///
    /// # Errors
    /// When the output cannot be written.
    pub fn error(
        &mut self,
        result: &RecordResult,
        error: &RecordError,
        report: &mut Report,
    ) -> std::io::Result<()> {
        match self.format {
            Format::Raw => {
                // What came before goes out first, so that `> f 2>&1` keeps
                // the lines in record order.
                if report.will_print(error) {
                    self.flush()?;
                }
                report.failed(result.index, error);
                Ok(())
            }
            Format::Jsonl => {
                report.failed(result.index, error);
                let mut line = Line::new(result, "error");
                line.kind = Some(error.kind.as_str());
                line.message = Some(&error.message);
                self.push_json(&line)?;
                self.maybe_flush()
            }
        }
    }

    fn push_json(&mut self, line: &Line<'_>) -> std::io::Result<()> {
        if self.terminal {
            let text = serde_json::to_string(line)?;
            self.buffer
                .extend_from_slice(json_for_terminal(&text).as_bytes());
        } else {
            serde_json::to_writer(&mut self.buffer, line)?;
        }
        self.buffer.push(b'\n');
        Ok(())
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
            self.written += self.buffer.len() as u64;
            self.buffer.clear();
        }
        self.out.flush()
    }

    /// Bytes written out so far.
    pub fn written(&self) -> u64 {
        self.written
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

    fn written(format: Format, f: impl FnOnce(&mut Sink, &mut Report)) -> String {
        let out = Shared::default();
        let mut sink = Sink::new(Box::new(out.clone()), format, b'\n', false);
        let mut report = Report::new(true, format);
        f(&mut sink, &mut report);
        sink.flush().unwrap();
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    fn ok(index: u64, output: &[u8]) -> RecordResult {
        RecordResult::new(index, Ok(output.to_vec()))
    }

    #[test]
    fn raw_adds_a_delimiter_only_when_missing() {
        let text = written(Format::Raw, |s, _| {
            s.ok(&ok(0, b"a"), b"a").unwrap();
            s.ok(&ok(1, b"b\n"), b"b\n").unwrap();
            s.ok(&ok(2, b""), b"").unwrap();
        });
        assert_eq!(text, "a\nb\n\n");
    }

    #[test]
    fn jsonl_matches_the_spec() {
        let text = written(Format::Jsonl, |s, r| {
            s.ok(&ok(0, b"HELLO"), b"HELLO").unwrap();
            s.ok(&ok(1, &[0xff, 0xfe, 0x00]), &[0xff, 0xfe, 0x00])
                .unwrap();
            let error = RecordError::new(ErrorKind::Fuel, "fuel exhausted (limit 1000000)");
            let failed = RecordResult::new(2, Err(error.clone()));
            s.error(&failed, &error, r).unwrap();
        });
        assert_eq!(
            text,
            "{\"index\":0,\"status\":\"ok\",\"output\":\"HELLO\"}\n\
             {\"index\":1,\"status\":\"ok\",\"output_base64\":\"//4A\"}\n\
             {\"index\":2,\"status\":\"error\",\"kind\":\"fuel\",\"message\":\"fuel exhausted (limit 1000000)\"}\n"
        );
    }
}
