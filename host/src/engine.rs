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
}

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
