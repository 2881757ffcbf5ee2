//! Turning the error of a failed call into a [`RecordError`], by type, and
//! bounding what a guest's words may cost.

use wasmtime::Trap;
use wasmtime_wasi::I32Exit;

use crate::error::{ErrorKind, RecordError};
use crate::limits::Limits;
use crate::traps::{MemoryLimitExceeded, OutputLimitExceeded, Stopped};

/// Most of a guest's stderr that goes into an error message.
const STDERR_IN_MESSAGE: usize = 400;
/// Most of a host-side error chain that goes into a message.
const CHAIN_IN_MESSAGE: usize = 1024;

/// Classifies the error of a failed call. `stderr` is what the guest wrote
/// to stderr during the record; its tail ends the message of guest
/// failures and traps (a panic message, say). `command` says whether the
/// plugin is a command (for which `exit(n)` is a way to fail a record) or
/// a mapper (for which it is a trap).
pub(crate) fn classify(
    err: &wasmtime::Error,
    limits: &Limits,
    stderr: &[u8],
    command: bool,
) -> RecordError {
    if let Some(stopped) = err.downcast_ref::<Stopped>() {
        return match stopped {
            Stopped::Timeout(_) => RecordError::new(ErrorKind::Timeout, stopped.to_string()),
            Stopped::Interrupted => RecordError::interrupted(),
        };
    }
    if let Some(memory) = err.downcast_ref::<MemoryLimitExceeded>() {
        return RecordError::new(ErrorKind::Memory, memory.to_string());
    }
    if let Some(output) = err.downcast_ref::<OutputLimitExceeded>() {
        return RecordError::new(ErrorKind::Output, output.to_string());
    }
    if let Some(exit) = err.downcast_ref::<I32Exit>() {
        if command {
            return guest_exit(exit.0, stderr);
        }
        return RecordError::new(
            ErrorKind::Trap,
            with_stderr(
                format!("the mapper called exit({}); a mapper must return", exit.0),
                stderr,
            ),
        );
    }
    if let Some(trap) = err.downcast_ref::<Trap>() {
        let message = match trap {
            Trap::OutOfFuel => {
                let limit = limits.fuel.unwrap_or_default();
                return RecordError::new(
                    ErrorKind::Fuel,
                    format!("fuel exhausted (limit {limit})"),
                );
            }
            Trap::StackOverflow => "stack overflow".to_string(),
            other => other.to_string(),
        };
        return RecordError::new(ErrorKind::Trap, with_stderr(message, stderr));
    }
    // Anything else is a host-side failure inside a call (a WASI call that
    // trapped, a value that broke the canonical ABI): the guest cannot go
    // on, so it is a trap. Its chain says where; backtraces are left out.
    let mut message = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        // wasmtime attaches the guest's backtrace as context: not for a
        // one-line message.
        if text.contains("wasm backtrace:") {
            continue;
        }
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() || message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    if message.is_empty() {
        message.push_str("unknown error");
    }
    RecordError::new(
        ErrorKind::Trap,
        with_stderr(cut(message, CHAIN_IN_MESSAGE), stderr),
    )
}

/// The error of a command that exited with a non-zero `code`.
pub(crate) fn guest_exit(code: i32, stderr: &[u8]) -> RecordError {
    RecordError::new(
        ErrorKind::Guest,
        with_stderr(format!("exited with code {code}"), stderr),
    )
}

/// The error of a mapper that returned `err(text)`: `prefix` is at most
/// [`MAX_ERROR_TEXT`] bytes of it, `total` its whole length.
pub(crate) fn guest_err(prefix: &str, total: u64) -> RecordError {
    let mut message = prefix.to_string();
    if total > prefix.len() as u64 {
        message.push_str(&format!(" [cut: {total} bytes in all]"));
    }
    RecordError::new(ErrorKind::Guest, message)
}

/// The error of an output larger than the cap.
pub(crate) fn output_too_large(len: u64, limit: u64) -> RecordError {
    RecordError::new(
        ErrorKind::Output,
        format!("output limit exceeded: {len} bytes (limit {limit})"),
    )
}

/// `message`, then ` (stderr: <tail>)` when the guest wrote to stderr.
fn with_stderr(message: String, stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let tail: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE"))
        .collect();
    if tail.is_empty() {
        return message;
    }
    let joined = tail.join(" | ");
    let start = joined.len().saturating_sub(STDERR_IN_MESSAGE);
    let start = ceil_char_boundary(&joined, start);
    let shown = if start > 0 {
        format!("...{}", &joined[start..])
    } else {
        joined
    };
    format!("{message} (stderr: {shown})")
}

fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        text.truncate(floor_char_boundary(&text, max));
        text.push_str("...");
    }
    text
}

fn floor_char_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil_char_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(e: wasmtime::Error, command: bool) -> ErrorKind {
        let limits = Limits {
            fuel: Some(5),
            ..Limits::default()
        };
        classify(&e, &limits, b"", command).kind
    }

    #[test]
    fn typed_errors_map_to_their_kinds() {
        assert_eq!(
            kind(wasmtime::Error::new(Trap::OutOfFuel), false),
            ErrorKind::Fuel
        );
        assert_eq!(
            kind(wasmtime::Error::new(Trap::StackOverflow), false),
            ErrorKind::Trap
        );
        assert_eq!(
            kind(wasmtime::Error::new(I32Exit(3)), true),
            ErrorKind::Guest
        );
        assert_eq!(
            kind(wasmtime::Error::new(I32Exit(0)), false),
            ErrorKind::Trap
        );
        assert_eq!(
            kind(
                wasmtime::Error::new(Stopped::Timeout(std::time::Duration::from_millis(5))),
                false
            ),
            ErrorKind::Timeout
        );
        assert_eq!(
            kind(wasmtime::Error::new(Stopped::Interrupted), false),
            ErrorKind::Interrupted
        );
        assert_eq!(
            kind(wasmtime::Error::new(OutputLimitExceeded { limit: 1 }), true),
            ErrorKind::Output
        );
        // Context added on the way up does not hide the cause.
        let wrapped = wasmtime::Error::new(Trap::OutOfFuel).context("while calling map");
        assert_eq!(kind(wrapped, false), ErrorKind::Fuel);
    }

    #[test]
    fn stderr_tail_ends_the_message() {
        let e = classify(
            &wasmtime::Error::new(Trap::UnreachableCodeReached),
            &Limits::default(),
            "thread 'main' panicked at src/lib.rs:1:1:\nhostile panic é\nnote: run with `RUST_BACKTRACE=1`\n".as_bytes(),
            false,
        );
        assert_eq!(e.kind, ErrorKind::Trap);
        assert!(e.message.ends_with("hostile panic é)"), "{}", e.message);
    }

    #[test]
    fn long_guest_errors_are_marked_as_cut() {
        let error = guest_err("eee", 1 << 20);
        assert_eq!(error.message, "eee [cut: 1048576 bytes in all]");
        assert_eq!(guest_err("short", 5).message, "short");
    }
}
