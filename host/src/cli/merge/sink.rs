//! Writing `merge`'s output: each winning line as it was (jsonl), or
//! what `run` would have printed (raw); escaped for a terminal.

use std::io::{BufWriter, Write};

use clap::ValueEnum;
use sandmap::ErrorKind;

use super::input::{Outcome, Parsed, Source, parse};
use crate::cli::escape::{for_terminal, json_for_terminal, output_for_terminal};

/// What `merge` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MergeFormat {
    /// One JSON object per record, as `run --format jsonl` writes them.
    Jsonl,
    /// Each output followed by the delimiter; failures go to stderr.
    Raw,
}

/// Where merged lines go.
pub(super) struct Sink {
    /// Standard output or the `-o` file.
    out: BufWriter<Box<dyn Write>>,
    /// jsonl or raw.
    format: MergeFormat,
    /// What ends each output in raw.
    delimiter: u8,
    /// Output goes to a terminal: escape what the guest wrote.
    terminal: bool,
}

impl Sink {
    /// A sink writing `format` to `out`, raw outputs ended by `delimiter`.
    /// When `terminal`, what the guest wrote is escaped.
    pub(super) fn new(
        out: Box<dyn Write>,
        format: MergeFormat,
        delimiter: u8,
        terminal: bool,
    ) -> Self {
        Sink {
            out: BufWriter::with_capacity(64 * 1024, out),
            format,
            delimiter,
            terminal,
        }
    }

    /// Writes out what is buffered.
    ///
    /// # Errors
    /// When the output cannot be written.
    pub(super) fn flush(&mut self) -> anyhow::Result<()> {
        self.out.flush().map_err(output_error)
    }

    /// Writes the current line of `source`.
    pub(super) fn write(&mut self, source: &Source) -> anyhow::Result<()> {
        match self.format {
            MergeFormat::Jsonl => self.jsonl(&source.line),
            MergeFormat::Raw => {
                let parsed =
                    parse(&source.line).map_err(|why| anyhow::anyhow!(source.error(&why)))?;
                self.raw(&parsed)
            }
        }
        .map_err(output_error)
    }

    /// The line as it was (a last line without a newline gets one).
    fn jsonl(&mut self, line: &[u8]) -> std::io::Result<()> {
        if self.terminal {
            let text = String::from_utf8_lossy(line);
            self.out.write_all(json_for_terminal(&text).as_bytes())?;
        } else {
            self.out.write_all(line)?;
        }
        if line.last() != Some(&b'\n') {
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }

    /// What `run` prints in raw: the output and a delimiter unless it ends
    /// with one; a failure as one line on stderr (none for records a stop
    /// left unfinished, as `run`).
    fn raw(&mut self, parsed: &Parsed<'_>) -> std::io::Result<()> {
        match &parsed.outcome {
            Outcome::Ok(output) => {
                if self.terminal {
                    self.out.write_all(output_for_terminal(output).as_bytes())?;
                } else {
                    self.out.write_all(output)?;
                }
                if output.last() != Some(&self.delimiter) {
                    self.out.write_all(&[self.delimiter])?;
                }
                Ok(())
            }
            Outcome::Error(ErrorKind::Interrupted, _) => Ok(()),
            Outcome::Error(_, message) => {
                // What came before goes out first: `> f 2>&1` keeps the
                // lines in record order.
                self.out.flush()?;
                let line = format!(
                    "sandmap: record {}: {}",
                    parsed.index,
                    for_terminal(message)
                );
                writeln!(std::io::stderr().lock(), "{line}")
            }
        }
    }
}

/// An error writing the output, told apart from an invalid input.
fn output_error(error: std::io::Error) -> anyhow::Error {
    anyhow::Error::new(error).context("cannot write the output")
}
