//! The resource limiter of every store: caps an instance's linear
//! memories and tables *added up*, however many core instances and
//! memories it has, and turns an attempt to pass the cap into a typed
//! error (kind `memory`).

use crate::engine::{CORE_INSTANCES_PER_COMPONENT, MEMORIES_PER_COMPONENT, TABLES_PER_COMPONENT};
use crate::traps::MemoryLimitExceeded;

/// Bytes a table element is counted as.
const TABLE_ELEMENT_BYTES: u64 = 8;

/// Counts what a store's instances hold, against one cap.
#[derive(Debug, Clone)]
pub(crate) struct StoreLimiter {
    cap: u64,
    memories: u64,
    tables: u64,
}

impl StoreLimiter {
    pub fn new(cap: u64) -> Self {
        StoreLimiter {
            cap,
            memories: 0,
            tables: 0,
        }
    }

    /// Bytes of linear memory the store's instances hold now (memories
    /// never shrink, so this is also the peak).
    pub fn memory_bytes(&self) -> u64 {
        self.memories
    }

    /// Accounts a growth of one memory or table from `current` to
    /// `desired` bytes, if the instance's total stays under the cap.
    fn grow(&mut self, table: bool, current: u64, desired: u64) -> wasmtime::Result<bool> {
        let (held, other) = if table {
            (self.tables, self.memories)
        } else {
            (self.memories, self.tables)
        };
        let new_held = held.saturating_sub(current).saturating_add(desired);
        let total = new_held.saturating_add(other);
        if total > self.cap {
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                what: if table { "a table" } else { "a linear memory" },
                total,
                limit: self.cap,
            }));
        }
        if table {
            self.tables = new_held;
        } else {
            self.memories = new_held;
        }
        Ok(true)
    }
}

impl wasmtime::ResourceLimiter for StoreLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Past the memory's own declared maximum: plain wasm semantics,
        // `memory.grow` returns -1 and the guest carries on.
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        self.grow(false, current as u64, desired as u64)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        self.grow(
            true,
            (current as u64).saturating_mul(TABLE_ELEMENT_BYTES),
            (desired as u64).saturating_mul(TABLE_ELEMENT_BYTES),
        )
    }

    fn instances(&self) -> usize {
        CORE_INSTANCES_PER_COMPONENT as usize
    }

    fn memories(&self) -> usize {
        MEMORIES_PER_COMPONENT as usize
    }

    fn tables(&self) -> usize {
        TABLES_PER_COMPONENT as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    #[test]
    fn memories_and_tables_count_against_one_cap() {
        let mut limiter = StoreLimiter::new(100 << 20);
        assert!(limiter.memory_growing(0, 60 << 20, None).unwrap());
        // A second memory of the same instance: the total passes the cap.
        assert!(limiter.memory_growing(0, 60 << 20, None).is_err());
        assert!(limiter.memory_growing(0, 30 << 20, None).unwrap());
        assert_eq!(limiter.memory_bytes(), 90 << 20);
        // 2 Mi table elements are 16 MiB: over the cap too.
        assert!(limiter.table_growing(0, 2 << 20, None).is_err());
        assert!(limiter.table_growing(0, 1000, None).unwrap());
        // Past a memory's own maximum is -1, not an error.
        assert!(!limiter.memory_growing(65536, 131072, Some(65536)).unwrap());
    }
}
