//! Per-record and per-instance limits, as plain data, and the one place
//! where they are enforced inside a store (the resource limiter).

use std::time::Duration;

/// The limits a run puts on every record. `None` means "no limit".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// Fuel budget per record (roughly, wasm instructions). Exhausted →
    /// [`ErrorKind::Fuel`](crate::ErrorKind::Fuel).
    pub fuel: Option<u64>,
    /// Wall-clock limit per record, including time the guest spends
    /// blocked in host calls. Exceeded →
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout).
    pub timeout: Option<Duration>,
    /// Cap on each linear memory of an instance, in bytes. Growing past it
    /// → [`ErrorKind::Memory`](crate::ErrorKind::Memory).
    pub max_memory: Option<u64>,
    /// Cap on one record's output, in bytes. Larger →
    /// [`ErrorKind::Output`](crate::ErrorKind::Output).
    pub max_output: Option<u64>,
}

/// Table elements allowed per table when a memory cap is set: generous
/// for real programs, small enough that a table bomb stays cheap.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// Raised from inside the store when an instance tries to grow a memory or
/// table past its cap; classified as [`ErrorKind::Memory`](crate::ErrorKind::Memory).
#[derive(Debug, thiserror::Error)]
#[error("memory limit exceeded: tried to grow {what} to {desired} {unit} (limit {limit})")]
pub(crate) struct MemoryLimitExceeded {
    pub what: &'static str,
    pub unit: &'static str,
    pub desired: usize,
    pub limit: usize,
}

/// The [`wasmtime::ResourceLimiter`] of every store: caps linear memory and
/// table growth and turns an attempt to pass them into a typed error.
#[derive(Debug, Clone)]
pub(crate) struct StoreLimiter {
    max_memory: Option<usize>,
}

impl StoreLimiter {
    pub fn new(limits: &Limits) -> Self {
        StoreLimiter {
            max_memory: limits
                .max_memory
                .map(|m| usize::try_from(m).unwrap_or(usize::MAX)),
        }
    }
}

impl wasmtime::ResourceLimiter for StoreLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Past the cap, or past what the memory can ever hold (4 GiB for
        // a 32-bit memory): either way the record is out of memory, and
        // says so rather than leaving the guest to abort.
        let limit = match (self.max_memory, maximum) {
            (Some(cap), Some(max)) => Some(cap.min(max)),
            (cap, max) => cap.or(max),
        };
        match limit {
            Some(limit) if desired > limit => Err(wasmtime::Error::new(MemoryLimitExceeded {
                what: "linear memory",
                unit: "bytes",
                desired,
                limit,
            })),
            _ => Ok(true),
        }
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        match self.max_memory {
            Some(_) if desired > MAX_TABLE_ELEMENTS => {
                Err(wasmtime::Error::new(MemoryLimitExceeded {
                    what: "a table",
                    unit: "elements",
                    desired,
                    limit: MAX_TABLE_ELEMENTS,
                }))
            }
            _ => Ok(true),
        }
    }
}
