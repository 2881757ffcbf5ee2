//! One record as a worker runs it: its bytes and index, what it used, and
//! the error of a WASI context that could not be made for it.

use bytes::Bytes;
use wasmtime::Store;

use crate::config::Config;
use crate::error::{ErrorKind, RecordError};
use crate::host::{HostState, fuel_used};

/// A record to run: its bytes, and its index in the input.
pub(crate) struct RecordRef<'a> {
    pub index: u64,
    pub bytes: &'a [u8],
    /// The same bytes, shared (a command's stdin takes them without a copy).
    pub shared: &'a dyn Fn() -> Bytes,
}

/// What a record used.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Usage {
    pub fuel: Option<u64>,
    pub memory: u64,
    /// The instance served an earlier record.
    pub reused: bool,
}

impl Usage {
    /// What the record of `store` used, when stats are asked for.
    pub fn of<W>(store: &Store<HostState<W>>, config: &Config) -> Self {
        if !config.stats {
            return Usage::default();
        }
        Usage {
            fuel: fuel_used(store, &config.limits),
            memory: store.data().limiter.memory_bytes(),
            reused: false,
        }
    }

    /// The same, saying whether the instance served an earlier record.
    pub fn reused(self, reused: bool) -> Self {
        Usage { reused, ..self }
    }
}

/// The error of a WASI context that could not be made (a granted directory
/// gone, say).
pub(crate) fn wasi_error(error: wasmtime::Error) -> RecordError {
    RecordError::new(
        ErrorKind::Trap,
        format!(
            "cannot set up the guest's WASI context: {}",
            crate::error::one_line(error.as_ref())
        ),
    )
}
