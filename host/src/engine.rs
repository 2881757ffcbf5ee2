//! The wasmtime engine: all of wasmtime's `Config` is decided here, once,
//! from the few settings that change it. `run`, `inspect` and `compile`
//! all build their engine through [`EngineSettings`], so what `inspect`
//! accepts is what `run` runs, and what `compile` writes `run` can load.

use crate::build_error::{LoadError, WasmError};

/// Memory of a freed instance slot left mapped rather than returned to the
/// OS, so the next instance in the slot does not fault it in again, when
/// the kernel can say which pages were dirtied (Linux 6.7+ `PAGEMAP_SCAN`):
/// a small guest's stack, data and heap fit. Measured on the upper mapper
/// with `--isolate`: 31 µs/record with 16 KiB kept and no scan, 14.6 µs
/// with 1 MiB kept and the scan.
const KEEP_RESIDENT_SCANNED: usize = 1 << 20;
/// The same without the scan, where everything kept is reset by `memset`
/// on every instance (1 MiB of it costs ~40 µs).
const KEEP_RESIDENT_UNSCANNED: usize = 16 << 10;
/// Fiber stack bytes kept mapped between instances.
const STACK_KEEP_RESIDENT: usize = 64 << 10;
/// Table bytes kept mapped between instances.
const TABLE_KEEP_RESIDENT: usize = 64 << 10;
/// Core instances a component may hold: Rust and C components have a
/// handful, Python's a few dozen.
pub(crate) const CORE_INSTANCES_PER_COMPONENT: u32 = 64;
/// Linear memories a plugin instance may hold (across all its core
/// instances): one for most, a few for components composed from others.
pub const MEMORIES_PER_COMPONENT: u32 = 8;
/// Tables a component may hold.
pub(crate) const TABLES_PER_COMPONENT: u32 = 64;
/// Table elements per table: a CPython component's function table runs to
/// tens of thousands.
pub(crate) const TABLE_ELEMENTS: usize = 1 << 18;
/// Instance slots per worker: one in use, one being torn down while the
/// next is made.
const SLOTS_PER_WORKER: u32 = 2;
/// The most workers a pool may have: their instance slots (each memory
/// slot reserves about 4 GiB of address space, not of memory) must fit in
/// a 47-bit address space with room to spare.
pub const MAX_JOBS: usize = 512;

/// The settings that decide an engine's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct EngineSettings {
    /// Meter fuel (compiled into the code).
    pub fuel: bool,
    /// Canonical NaNs and deterministic relaxed SIMD (compiled into the
    /// code).
    pub deterministic: bool,
    /// Workers the instance pool is sized for.
    pub jobs: usize,
    /// The cap on an instance's memories and tables, all added up.
    pub max_memory: u64,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            fuel: false,
            deterministic: false,
            jobs: 1,
            max_memory: crate::limits::DEFAULT_MAX_MEMORY,
        }
    }
}

/// A configured wasmtime engine.
#[derive(Clone)]
pub(crate) struct Engine {
    inner: wasmtime::Engine,
    settings: EngineSettings,
}

impl Engine {
    /// Builds an engine.
    pub fn new(settings: EngineSettings) -> Result<Self, LoadError> {
        let inner = wasmtime::Engine::new(&config(&settings)).map_err(|e| LoadError::Engine {
            source: WasmError::new(e),
        })?;
        Ok(Engine { inner, settings })
    }

    /// The settings this engine was built from.
    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    /// The wasmtime engine.
    pub fn wasmtime(&self) -> &wasmtime::Engine {
        &self.inner
    }
}

/// wasmtime's configuration for `settings`.
fn config(settings: &EngineSettings) -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    // Epochs are always on: they are how a run is cancelled and how a
    // compute-bound record meets its deadline.
    config.epoch_interruption(true);
    config.consume_fuel(settings.fuel);
    // The mapper world needs none of the component-model concurrency
    // machinery, and leaving it off halves the cost of a call.
    config.concurrency_support(false);
    // Proposals no plugin here needs and that escape the limits: shared
    // memories grow without asking the resource limiter and block a thread
    // in `memory.atomic.wait`; GC heaps and 64-bit memories are more
    // surface than any plugin uses. (The `threads` and `gc` features of
    // wasmtime are not even compiled in.)
    config.wasm_memory64(false);
    config.wasm_stack_switching(false);
    config.wasm_custom_page_sizes(false);
    if settings.deterministic {
        config.cranelift_nan_canonicalization(true);
        config.relaxed_simd_deterministic(true);
    }
    config.allocation_strategy(pooling(settings));
    config
}

fn pooling(settings: &EngineSettings) -> wasmtime::PoolingAllocationConfig {
    let jobs = u32::try_from(settings.jobs.clamp(1, MAX_JOBS)).unwrap_or(1);
    let instances = jobs * SLOTS_PER_WORKER;
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_component_instances(instances)
        .total_core_instances(instances * CORE_INSTANCES_PER_COMPONENT)
        .total_memories(instances * MEMORIES_PER_COMPONENT)
        .total_tables(instances * TABLES_PER_COMPONENT)
        .total_stacks(instances)
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MEMORIES_PER_COMPONENT)
        .max_tables_per_component(TABLES_PER_COMPONENT)
        .max_memories_per_module(2)
        .max_tables_per_module(4)
        .table_elements(TABLE_ELEMENTS)
        .async_stack_keep_resident(STACK_KEEP_RESIDENT)
        .table_keep_resident(TABLE_KEEP_RESIDENT);
    if wasmtime::PoolingAllocationConfig::is_pagemap_scan_available() {
        // The kernel tells which pages an instance dirtied: only those are
        // reset, and a freed slot stays mapped (no madvise, no TLB
        // shootdown, no page faults for the next instance).
        pool.pagemap_scan(wasmtime::Enabled::Yes)
            .linear_memory_keep_resident(KEEP_RESIDENT_SCANNED);
    } else {
        // Without it the kept part is reset with memset whether touched
        // or not: keep only the few pages a small guest surely touches.
        pool.linear_memory_keep_resident(KEEP_RESIDENT_UNSCANNED);
    }
    // Slots a little larger than the cap, so that growing past the cap
    // reaches the limiter (kind `memory`) rather than the slot's end. No
    // one memory can be larger than 4 GiB.
    let slot = settings.max_memory.saturating_add(64 << 10).min(1 << 32);
    pool.max_memory_size(usize::try_from(slot).unwrap_or(usize::MAX));
    pool
}
