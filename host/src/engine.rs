//! The wasmtime engine: one per run, shared by every worker. All of
//! wasmtime's `Config` is decided here.

use crate::error::LoadError;

/// How to configure the engine. Settings that change the compiled code
/// (fuel metering) live here, so a plugin is compiled once for them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineOptions {
    /// Meter fuel, so that a per-record fuel budget can be enforced. Costs
    /// some speed on instruction-heavy guests; off unless a budget is set.
    pub fuel: bool,
    /// Pre-reserve instance slots (wasmtime's pooling allocator), making a
    /// fresh instance per record cheap. `None` allocates on demand.
    pub pooling: Option<PoolingOptions>,
}

/// How big the pooling allocator's pool is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolingOptions {
    /// How many instances may live at once: one per worker, with room for
    /// the one being torn down while the next is made.
    pub concurrent_instances: u32,
    /// The largest a linear memory may grow to (the slot size); 4 GiB when
    /// `None`.
    pub max_memory: Option<u64>,
}

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
/// Core instances (and tables) a component may need: Rust and C components
/// have a handful, Python's a few dozen.
const CORE_INSTANCES_PER_COMPONENT: u32 = 64;
/// Table elements per table: a CPython component's function table runs to
/// tens of thousands.
const TABLE_ELEMENTS: usize = 1 << 18;

/// A configured wasmtime engine. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Engine {
    inner: wasmtime::Engine,
    options: EngineOptions,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("options", &self.options)
            .finish()
    }
}

impl Engine {
    /// Builds an engine.
    ///
    /// # Errors
    /// When wasmtime rejects the configuration (e.g. the host CPU lacks a
    /// feature the compiler needs).
    pub fn new(options: &EngineOptions) -> Result<Self, LoadError> {
        let mut config = wasmtime::Config::new();
        // Epochs are always on: they are how a run is cancelled and how a
        // compute-bound record meets its deadline.
        config.epoch_interruption(true);
        config.consume_fuel(options.fuel);
        // The mapper world needs none of the component-model concurrency
        // machinery, and leaving it off halves the cost of a call.
        config.concurrency_support(false);
        if let Some(pooling) = options.pooling {
            config.allocation_strategy(pooling_config(pooling));
        }
        let inner = wasmtime::Engine::new(&config)
            .map_err(|e| LoadError::Engine(crate::error::wasmtime_one_line(&e)))?;
        Ok(Engine {
            inner,
            options: options.clone(),
        })
    }

    /// The options this engine was built with.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// The underlying wasmtime engine.
    pub fn wasmtime(&self) -> &wasmtime::Engine {
        &self.inner
    }
}

fn pooling_config(options: PoolingOptions) -> wasmtime::PoolingAllocationConfig {
    let instances = options.concurrent_instances.max(1) * 2;
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_component_instances(instances)
        .total_core_instances(instances * CORE_INSTANCES_PER_COMPONENT)
        .total_memories(instances * 4)
        .total_tables(instances * CORE_INSTANCES_PER_COMPONENT)
        .total_stacks(instances)
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
    if let Some(max) = options.max_memory {
        // Slots a little larger than the cap, so that growing past the cap
        // reaches the limiter (kind `memory`) rather than the slot's end.
        let slot = max.saturating_add(64 * 1024).min(1 << 32);
        pool.max_memory_size(usize::try_from(slot).unwrap_or(usize::MAX));
    }
    pool
}
