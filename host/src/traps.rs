//! The errors sandmap raises from inside a store to stop a guest: a stop
//! (timeout or cancel), and the memory and output caps. They travel up
//! through wasmtime as the cause of a failed call and are told apart by
//! type in `classify.rs`.

use std::time::Duration;

/// Raised to stop a running guest.
#[derive(Debug, Clone, Copy, thiserror::Error)]
pub(crate) enum Stopped {
    /// The record ran past its own wall-clock limit.
    #[error("timed out (limit {})", humantime::format_duration(*.0))]
    Timeout(Duration),
    /// The whole run was cancelled.
    #[error("interrupted")]
    Interrupted,
}

/// Raised when an instance tries to grow its memories and tables past the
/// cap.
#[derive(Debug, thiserror::Error)]
#[error(
    "memory limit exceeded: growing {what} would bring the instance to {total} bytes (limit {limit})"
)]
pub(crate) struct MemoryLimitExceeded {
    pub what: &'static str,
    pub total: u64,
    pub limit: u64,
}

/// Raised when a guest writes more output than the cap allows.
#[derive(Debug, thiserror::Error)]
#[error("output limit exceeded: more than {limit} bytes")]
pub(crate) struct OutputLimitExceeded {
    pub limit: u64,
}
