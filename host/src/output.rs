//! Writing results as bytes: raw (each output and a delimiter) or JSON
//! lines (one object per record, SPEC §2). Results are gathered in a
//! buffer and written out only at record boundaries, so whatever stops the
//! run, the output ends on a whole record. The writer also keeps the
//! length and a CRC-32C of everything it wrote, which a journal records.

use std::io::Write;

use base64::Engine as _;
use serde::Serialize;

use crate::escape::{json_for_terminal, output_for_terminal};
use crate::outcome::RecordView;

/// Buffered bytes that trigger a write.
const FLUSH_AT: usize = 64 * 1024;

/// How results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// Each successful output followed by the delimiter (unless it already
    /// ends with it); failures are not written.
    Raw,
    /// One JSON object per record: `index`, `status`, then `output` (or
    /// `output_base64` for output that is not UTF-8) or `kind` and
    /// `message`; `attempts` after retries; `wall_us`, `fuel`, `memory`
    /// with stats.
    Jsonl,
}

impl Format {
    /// The format's name (`raw`, `jsonl`).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Jsonl => "jsonl",
        }
    }
}

/// Writes results to a byte stream.
///
/// ```
/// use sandmap::{ErrorKind, Format, RecordError, RecordResult, ResultWriter};
///
/// let mut out = Vec::new();
/// let mut writer = ResultWriter::new(&mut out, Format::Jsonl, b'\n');
/// writer.write(&RecordResult::new(0, Ok(b"HELLO".to_vec())))?;
/// let error = RecordError::new(ErrorKind::Fuel, "fuel exhausted (limit 1000000)");
/// writer.write(&RecordResult::new(1, Err(error)))?;
/// writer.flush()?;
/// drop(writer);
/// assert_eq!(
///     String::from_utf8(out)?,
///     "{\"index\":0,\"status\":\"ok\",\"output\":\"HELLO\"}\n\
///      {\"index\":1,\"status\":\"error\",\"kind\":\"fuel\",\"message\":\"fuel exhausted (limit 1000000)\"}\n"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ResultWriter<W: Write> {
    out: W,
    buffer: Vec<u8>,
    format: Format,
    delimiter: u8,
    terminal: bool,
    written: u64,
    crc: u32,
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

impl<W: Write> ResultWriter<W> {
    /// A writer of `format` to `out`, records separated by `delimiter`.
    pub fn new(out: W, format: Format, delimiter: u8) -> Self {
        ResultWriter {
            out,
            buffer: Vec::with_capacity(FLUSH_AT * 2),
            format,
            delimiter,
            terminal: false,
            written: 0,
            crc: 0,
        }
    }

    /// Escapes what the guest wrote, for output bound for a terminal.
    pub fn for_terminal(mut self, terminal: bool) -> Self {
        self.terminal = terminal;
        self
    }

    /// Goes on after `written` bytes whose CRC-32C is `crc` (a resumed run).
    pub(crate) fn continuing(mut self, written: u64, crc: u32) -> Self {
        self.written = written;
        self.crc = crc;
        self
    }

    /// Writes one result (in raw format a failure writes nothing; tell it
    /// some other way). Returns whether anything was written.
    ///
    /// # Errors
    /// When the output cannot be written (a closed pipe, a full disk).
    pub fn write<'a>(&mut self, result: impl Into<RecordView<'a>>) -> std::io::Result<bool> {
        let result = result.into();
        match (self.format, result.outcome) {
            (Format::Raw, Err(_)) => return Ok(false),
            (Format::Raw, Ok(output)) => {
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
            (_, outcome) => {
                let stats = result.stats.as_ref();
                let mut line = Line {
                    index: result.index,
                    status: "ok",
                    output: None,
                    output_base64: None,
                    kind: None,
                    message: None,
                    attempts: (result.attempts > 1).then_some(result.attempts),
                    wall_us: stats.map(|s| u64::try_from(s.wall.as_micros()).unwrap_or(u64::MAX)),
                    fuel: stats.and_then(|s| s.fuel),
                    memory: stats.map(|s| s.memory),
                };
                match outcome {
                    Ok(output) => match std::str::from_utf8(output) {
                        Ok(text) => line.output = Some(text),
                        Err(_) => {
                            line.output_base64 =
                                Some(base64::engine::general_purpose::STANDARD.encode(output))
                        }
                    },
                    Err(error) => {
                        line.status = "error";
                        line.kind = Some(error.kind.as_str());
                        line.message = Some(error.message.as_str());
                    }
                }
                if self.terminal {
                    let text = serde_json::to_string(&line)?;
                    self.buffer
                        .extend_from_slice(json_for_terminal(&text).as_bytes());
                } else {
                    serde_json::to_writer(&mut self.buffer, &line)?;
                }
                self.buffer.push(b'\n');
            }
        }
        if self.buffer.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(true)
    }

    /// Whether the buffer holds results not yet written out.
    pub fn has_buffered(&self) -> bool {
        !self.buffer.is_empty()
    }

    /// Writes out everything buffered (whole records only).
    ///
    /// # Errors
    /// When the output cannot be written.
    pub fn flush(&mut self) -> std::io::Result<()> {
        if !self.buffer.is_empty() {
            self.out.write_all(&self.buffer)?;
            self.written += self.buffer.len() as u64;
            self.crc = crc32c::crc32c_append(self.crc, &self.buffer);
            self.buffer.clear();
        }
        self.out.flush()
    }

    /// Bytes written out so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// CRC-32C of the bytes written out so far.
    pub(crate) fn crc(&self) -> u32 {
        self.crc
    }

    /// The stream written to.
    pub(crate) fn get_ref(&self) -> &W {
        &self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorKind, RecordError};
    use crate::outcome::RecordResult;

    fn written(format: Format, results: &[RecordResult]) -> String {
        let mut out = Vec::new();
        let mut writer = ResultWriter::new(&mut out, format, b'\n');
        for result in results {
            writer.write(result).unwrap();
        }
        writer.flush().unwrap();
        let (len, crc) = (writer.written(), writer.crc());
        drop(writer);
        assert_eq!(len, out.len() as u64);
        assert_eq!(crc, crc32c::crc32c(&out));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn raw_adds_a_delimiter_only_when_missing_and_skips_failures() {
        let failed = RecordResult::new(3, Err(RecordError::new(ErrorKind::Guest, "no")));
        let text = written(
            Format::Raw,
            &[
                RecordResult::new(0, Ok(b"a".to_vec())),
                RecordResult::new(1, Ok(b"b\n".to_vec())),
                RecordResult::new(2, Ok(Vec::new())),
                failed,
            ],
        );
        assert_eq!(text, "a\nb\n\n");
    }

    #[test]
    fn jsonl_matches_the_spec() {
        let text = written(
            Format::Jsonl,
            &[RecordResult::new(1, Ok(vec![0xff, 0xfe, 0x00]))],
        );
        assert_eq!(
            text,
            "{\"index\":1,\"status\":\"ok\",\"output_base64\":\"//4A\"}\n"
        );
    }
}
