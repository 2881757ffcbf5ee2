//! Typed errors: why a record failed, why a pool could not be built, and
//! why a run stopped early.
//!
//! A record's failure is classified by downcasting the error wasmtime
//! returned (a [`wasmtime::Trap`], WASI's `I32Exit`, or one of sandmap's own
//! limit errors raised from inside the store), never by matching message
//! text. Build and run errors keep their causes: [`std::error::Error::source`]
//! walks down to the I/O or wasmtime error underneath.

use std::fmt;
use std::path::PathBuf;

/// The kind of a per-record failure. [`ErrorKind::as_str`] is the name the
/// command line prints in the `kind` field of a jsonl error object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The plugin returned `err`, or a command exited with a non-zero code.
    Guest,
    /// The guest trapped: `unreachable`, stack overflow, out-of-bounds
    /// access, a guest panic, a call that broke the interface's rules.
    Trap,
    /// The record used up its fuel budget.
    Fuel,
    /// The record ran past its wall-clock limit.
    Timeout,
    /// The instance tried to grow its memories and tables past the cap.
    Memory,
    /// The record's output was larger than the output cap.
    Output,
    /// The record did not finish because the run was stopped.
    Interrupted,
}

impl ErrorKind {
    /// Every kind, in the order summaries list them.
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::Guest,
        ErrorKind::Trap,
        ErrorKind::Fuel,
        ErrorKind::Timeout,
        ErrorKind::Memory,
        ErrorKind::Output,
        ErrorKind::Interrupted,
    ];

    /// The stable lowercase name of this kind (`"fuel"`, `"timeout"`, ...).
    ///
    /// ```
    /// assert_eq!(sandmap::ErrorKind::Timeout.as_str(), "timeout");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Guest => "guest",
            ErrorKind::Trap => "trap",
            ErrorKind::Fuel => "fuel",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Memory => "memory",
            ErrorKind::Output => "output",
            ErrorKind::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of the [`ErrorKind`]s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown error kind `{0}` (expected one of guest, trap, fuel, timeout, memory, output, interrupted)"
)]
pub struct UnknownKind(pub String);

impl std::str::FromStr for ErrorKind {
    type Err = UnknownKind;

    /// Parses the name [`ErrorKind::as_str`] gives.
    ///
    /// ```
    /// let kind: sandmap::ErrorKind = "fuel".parse().unwrap();
    /// assert_eq!(kind, sandmap::ErrorKind::Fuel);
    /// assert!("slow".parse::<sandmap::ErrorKind>().is_err());
    /// ```
    fn from_str(text: &str) -> Result<Self, UnknownKind> {
        ErrorKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| UnknownKind(text.to_string()))
    }
}

/// Why one record failed. The run goes on after it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
#[non_exhaustive]
pub struct RecordError {
    /// What class of failure this is.
    pub kind: ErrorKind,
    /// A one-line explanation. Text that came from the guest is included
    /// as it was (at most 64 KiB of it), not yet escaped for a terminal.
    pub message: String,
}

impl RecordError {
    /// A record error of `kind` with `message`.
    ///
    /// ```
    /// use sandmap::{ErrorKind, RecordError};
    /// let error = RecordError::new(ErrorKind::Guest, "bad input");
    /// assert_eq!(error.to_string(), "bad input");
    /// ```
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        RecordError {
            kind,
            message: message.into(),
        }
    }

    /// The error of a record that did not finish because the run stopped.
    pub fn interrupted() -> Self {
        RecordError::new(ErrorKind::Interrupted, "interrupted before it finished")
    }
}

/// Why a run ended before every record was read: reported by the results
/// iterator after the results of everything before it.
///
/// ```
/// # let upper = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/upper-wat/upper.wat");
/// let pool = sandmap::Pool::builder(upper).build()?;
/// let records = (0..10).map(|i| {
///     assert!(i < 3, "out of records");
///     format!("r{i}")
/// });
/// let last = pool.map(records).last().unwrap();
/// assert!(matches!(last, Err(sandmap::RunError::SourcePanicked(_))));
/// # Ok::<(), sandmap::BuildError>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// A record longer than the longest allowed.
    #[error("record {index} is longer than {limit} bytes, the longest record allowed")]
    RecordTooLong {
        /// The record's index.
        index: u64,
        /// The longest record allowed.
        limit: u64,
    },
    /// Reading the input failed.
    #[error("cannot read the input: {0}")]
    Read(#[source] std::io::Error),
    /// The records given to [`Pool::map`](crate::Pool::map) (an iterator,
    /// or a conversion of its items) panicked.
    #[error("the record source panicked: {0}")]
    SourcePanicked(String),
    /// The input is not the one a journal or an earlier run recorded.
    #[error("the input differs from the {what} at record {index}")]
    InputMismatch {
        /// The first record that differs.
        index: u64,
        /// What it was compared with.
        what: &'static str,
    },
    /// A worker thread could not be started, or sandmap itself failed.
    #[error("sandmap internal error: {0}")]
    Internal(String),
}

/// Why a job (a run writing its results out, perhaps journaled) could not
/// start or did not finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// A journal needs an output file, whose length it records.
    #[error("a journal needs an output file (not a stream)")]
    JournalNeedsFile,
    /// The journal cannot be read or written (or is not a journal).
    #[error("journal {path}: {source}")]
    Journal {
        /// The journal's path.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The journal belongs to a job with other settings or another plugin.
    #[error("the journal belongs to a run with a different {what} ({journaled} there, {now} here)")]
    Mismatch {
        /// What differs (`plugin`, `time limit`, `output format`, ...).
        what: String,
        /// Its value in the journaled run.
        journaled: String,
        /// Its value now.
        now: String,
    },
    /// The output file cannot be opened or read back.
    #[error("output {path}: {source}")]
    Output {
        /// The output's path.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// Writing the output failed.
    #[error("cannot write the output: {0}")]
    Write(#[source] std::io::Error),
    /// The run could not read all its input.
    #[error(transparent)]
    Run(#[from] RunError),
}

/// `error` and its causes on one line (`a: b: c`), each cause once, for
/// messages that must fit on a single line of stderr.
pub(crate) fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::new();
    let mut cause = Some(error);
    while let Some(error) = cause {
        let text = error.to_string();
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if !text.is_empty() && !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        cause = error.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in ErrorKind::ALL {
            assert_eq!(kind.as_str().parse::<ErrorKind>().unwrap(), kind);
        }
    }
}
