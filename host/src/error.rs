//! Typed errors: why a record failed, and why a plugin could not be loaded.
//!
//! A record's failure is classified by downcasting the error that wasmtime
//! returned (a [`wasmtime::Trap`], WASI's [`wasmtime_wasi::I32Exit`], or one
//! of sandmap's own limit errors raised from inside the store), never by
//! matching message text.

use std::fmt;
use std::path::PathBuf;

/// The kind of a per-record failure. Its `as_str` name is what the CLI
/// prints in the `kind` field of a jsonl error object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The plugin returned `err`, or a command exited with a non-zero code.
    Guest,
    /// The guest trapped: `unreachable`, stack overflow, out-of-bounds
    /// access, a guest panic.
    Trap,
    /// The record used up its fuel budget.
    Fuel,
    /// The record ran past its wall-clock limit.
    Timeout,
    /// The instance tried to grow its memory or tables past the cap.
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

/// Why one record failed. The run goes on after it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RecordError {
    /// What class of failure this is.
    pub kind: ErrorKind,
    /// A one-line human-readable explanation (guest text already included,
    /// not yet escaped for a terminal).
    pub message: String,
}

impl RecordError {
    /// Makes a record error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        RecordError {
            kind,
            message: message.into(),
        }
    }

    /// The error given to records that never ran because the run stopped.
    pub fn interrupted() -> Self {
        RecordError::new(ErrorKind::Interrupted, "interrupted before it finished")
    }
}

/// Why a plugin could not be loaded. Every variant is reported before any
/// record is read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The plugin file could not be read.
    #[error("cannot read plugin {path}: {source}")]
    Read {
        /// The plugin's path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bytes are neither WebAssembly nor WebAssembly text.
    #[error("{path} is not a WebAssembly module or component (nor .wat text)")]
    NotWasm {
        /// The plugin's path.
        path: PathBuf,
    },
    /// A precompiled `.cwasm` was given without the flag that allows it.
    #[error(
        "{path} is precompiled code; loading it is unsafe unless you trust it: pass --allow-precompiled"
    )]
    PrecompiledRefused {
        /// The plugin's path.
        path: PathBuf,
    },
    /// wasmtime refused the bytes (invalid wasm, unsupported feature, ...).
    #[error("{path} is not a valid plugin: {message}")]
    Invalid {
        /// The plugin's path.
        path: PathBuf,
        /// wasmtime's explanation, on one line.
        message: String,
    },
    /// The plugin is valid wasm but has neither entry point sandmap runs.
    #[error("{path}: {what}")]
    NoEntryPoint {
        /// The plugin's path.
        path: PathBuf,
        /// What is missing, e.g. that the `mapper` export is absent.
        what: String,
    },
    /// The plugin imports something the sandbox does not provide.
    #[error("{path} cannot be linked: {message}")]
    Link {
        /// The plugin's path.
        path: PathBuf,
        /// wasmtime's explanation, on one line.
        message: String,
    },
    /// The engine could not be configured.
    #[error("cannot configure the wasm engine: {0}")]
    Engine(String),
    /// The run's settings cannot be used (a granted directory that does
    /// not exist, say).
    #[error("{0}")]
    Config(String),
}

/// Flattens a wasmtime error chain into one line (`a: b: c`), for
/// messages that must fit on a single line of stderr.
pub(crate) fn wasmtime_one_line(err: &wasmtime::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
