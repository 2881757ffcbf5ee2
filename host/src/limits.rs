//! The limits a run puts on every record, as plain data, with the defaults
//! that hold when the user sets nothing (SPEC: bounds that hold by
//! default).

use std::time::Duration;

/// Default cap on an instance's memories and tables, all added up.
pub const DEFAULT_MAX_MEMORY: u64 = 1 << 30;
/// Default cap on one record's output.
pub const DEFAULT_MAX_OUTPUT: u64 = 64 << 20;
/// Default longest record read from an input.
pub const DEFAULT_MAX_RECORD: u64 = 64 << 20;
/// The most of a guest's `err` text kept in a [`RecordError`](crate::RecordError).
pub const MAX_ERROR_TEXT: usize = 64 << 10;
/// The longest per-record time limit accepted.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(366 * 24 * 3600);

/// The limits a run puts on every record.
///
/// ```
/// let limits = sandmap::Limits::default();
/// assert_eq!(limits.max_memory, 1 << 30);
/// assert_eq!(limits.max_output, 64 << 20);
/// assert!(limits.fuel.is_none() && limits.timeout.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Limits {
    /// Fuel budget per record (about one unit per wasm instruction).
    /// Exhausted → [`ErrorKind::Fuel`](crate::ErrorKind::Fuel). Fuel counts
    /// wasm instructions, not time spent in host calls: `timeout` bounds
    /// those.
    pub fuel: Option<u64>,
    /// Wall-clock limit per record, including time the guest spends
    /// starting up and blocked in host calls. Exceeded →
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout).
    pub timeout: Option<Duration>,
    /// Cap on an instance's linear memories and tables, all added up, in
    /// bytes. Growing past it → [`ErrorKind::Memory`](crate::ErrorKind::Memory).
    pub max_memory: u64,
    /// Cap on one record's output in bytes, checked before the output is
    /// copied out of the guest. Larger → [`ErrorKind::Output`](crate::ErrorKind::Output).
    pub max_output: u64,
    /// The longest record read from an input. A longer one ends the run
    /// with [`RunError::RecordTooLong`](crate::RunError::RecordTooLong)
    /// after the results of every record before it.
    pub max_record: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: None,
            timeout: None,
            max_memory: DEFAULT_MAX_MEMORY,
            max_output: DEFAULT_MAX_OUTPUT,
            max_record: DEFAULT_MAX_RECORD,
        }
    }
}
