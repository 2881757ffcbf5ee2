//! Turning the error of a failed call into a [`RecordError`], by type.

use wasmtime::Trap;
use wasmtime_wasi::I32Exit;

use crate::capture::OutputLimitExceeded;
use crate::error::{ErrorKind, RecordError};
use crate::host::Stopped;
use crate::limits::{Limits, MemoryLimitExceeded};

/// Most of a guest's stderr that goes into an error message.
const STDERR_IN_MESSAGE: usize = 400;

/// Classifies the error of a failed call. `stderr` is what the guest wrote
/// to stderr during the record; its tail ends the message of guest
/// failures and traps (a panic message, say).
pub(crate) fn classify(err: &wasmtime::Error, limits: &Limits, stderr: &[u8]) -> RecordError {
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
        return guest_exit(exit.0, stderr);
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
    // trapped, say): the guest cannot go on, so it is a trap. The root cause
    // is the informative part; wasmtime's context lines are backtraces.
    let root = err.root_cause().to_string();
    let first_line = root.lines().next().unwrap_or("unknown error").to_string();
    RecordError::new(ErrorKind::Trap, with_stderr(first_line, stderr))
}

/// The error of a command that exited with a non-zero `code`.
pub(crate) fn guest_exit(code: i32, stderr: &[u8]) -> RecordError {
    RecordError::new(
        ErrorKind::Guest,
        with_stderr(format!("exited with code {code}"), stderr),
    )
}

/// The error of a mapper that returned `err(message)`.
pub(crate) fn guest_err(message: String) -> RecordError {
    RecordError::new(ErrorKind::Guest, message)
}

/// `message`, then `: stderr: <tail>` when the guest wrote to stderr.
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
    let mut joined = tail.join(" | ");
    if joined.len() > STDERR_IN_MESSAGE {
        let mut cut = joined.len() - STDERR_IN_MESSAGE;
        while !joined.is_char_boundary(cut) {
            cut += 1;
        }
        joined = format!("...{}", &joined[cut..]);
    }
    format!("{message} (stderr: {joined})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_errors_map_to_their_kinds() {
        let limits = Limits {
            fuel: Some(5),
            ..Limits::default()
        };
        let kind = |e: wasmtime::Error| classify(&e, &limits, b"").kind;
        assert_eq!(kind(wasmtime::Error::new(Trap::OutOfFuel)), ErrorKind::Fuel);
        assert_eq!(
            kind(wasmtime::Error::new(Trap::StackOverflow)),
            ErrorKind::Trap
        );
        assert_eq!(kind(wasmtime::Error::new(I32Exit(3))), ErrorKind::Guest);
        assert_eq!(
            kind(wasmtime::Error::new(Stopped::Timeout(
                std::time::Duration::from_millis(5)
            ))),
            ErrorKind::Timeout
        );
        assert_eq!(
            kind(wasmtime::Error::new(Stopped::Interrupted)),
            ErrorKind::Interrupted
        );
        assert_eq!(
            kind(wasmtime::Error::new(OutputLimitExceeded { limit: 1 })),
            ErrorKind::Output
        );
        // Context added on the way up does not hide the cause.
        let wrapped = wasmtime::Error::new(Trap::OutOfFuel).context("while calling map");
        assert_eq!(kind(wrapped), ErrorKind::Fuel);
    }

    #[test]
    fn stderr_tail_ends_the_message() {
        let e = classify(
            &wasmtime::Error::new(Trap::UnreachableCodeReached),
            &Limits::default(),
            b"thread 'main' panicked at src/lib.rs:1:1:\nhostile panic\nnote: run with `RUST_BACKTRACE=1`\n",
        );
        assert_eq!(e.kind, ErrorKind::Trap);
        assert!(e.message.ends_with("hostile panic)"), "{}", e.message);
    }
}
