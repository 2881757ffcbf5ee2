//! sandmap maps untrusted functions over data, in parallel, in a
//! WebAssembly sandbox.
//!
//! A plugin is a WebAssembly component exporting
//! `sandmap:plugin/mapper@0.1.0` (`map: func(list<u8>) -> result<list<u8>,
//! string>`), or any WASI command program (record on stdin, result on
//! stdout). A [`Pool`] runs it over records on worker threads, one wasmtime
//! store per worker, with per-record fuel, time, memory and output limits;
//! each record's failure is typed ([`ErrorKind`]) and the run goes on.
//! Nothing of the host is visible to the plugin unless granted.
//!
//! ```
//! # let upper = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/upper-wat/upper.wat");
//! use std::time::Duration;
//!
//! let pool = sandmap::Pool::builder(upper)
//!     .jobs(2)
//!     .timeout(Duration::from_secs(1))
//!     .build()?;
//! let results = pool.map(vec!["hello", "world"]);
//! let cancel = results.cancel_token(); // stops the run from any thread
//! for result in results {
//!     let result = result?;
//!     match result.outcome {
//!         Ok(output) => println!("{}: {}", result.index, String::from_utf8_lossy(&output)),
//!         Err(error) => eprintln!("{}: {} ({})", result.index, error, error.kind),
//!     }
//! }
//! # drop(cancel);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! See `docs/library.md` for streaming from a reader, cancelling from
//! another thread, and handling per-record errors.
#![deny(missing_docs)]

// Data and errors.
mod build_error;
mod config;
mod error;
mod grants;
mod limits;
mod traps;
// wasmtime set-up.
mod cache;
mod component_snapshot;
mod core_edit;
mod engine;
mod link;
mod load;
mod plugin;
mod snapshot;
mod source;
// One store.
mod cancel;
mod capture;
mod classify;
mod dirty;
mod host;
mod lift;
mod limiter;
mod stdin;
mod waits;
mod warm;
mod wasi;
// Execution.
mod batch;
mod command;
mod feeder;
mod framing;
mod kept;
mod mapper;
mod outcome;
mod record;
mod results;
mod run;
mod spares;
mod window;
mod worker;
mod workers;
// Writing results out, journaled.
pub mod escape;
mod job;
mod journal;
mod output;
mod resume;
// The front door.
mod builder;
mod pool;

pub use build_error::{BuildError, ConfigError, LoadError, WasmError};
pub use builder::PoolBuilder;
pub use cache::{CACHE_LIMIT, CacheOutcome, CompileCache};
pub use cancel::CancelToken;
pub use config::{Config, DEFAULT_MAX_IN_FLIGHT, Order, Retry, Shard};
pub use engine::{MAX_JOBS, MEMORIES_PER_COMPONENT};
pub use error::{ErrorKind, JobError, RecordError, RunError, UnknownKind};
pub use grants::{DirGrant, Grants};
pub use job::{Flow, JobBuilder, JobSummary, RunningJob};
pub use limits::{
    DEFAULT_MAX_MEMORY, DEFAULT_MAX_OUTPUT, DEFAULT_MAX_RECORD, Limits, MAX_ERROR_TEXT, MAX_TIMEOUT,
};
pub use link::{MAPPER_INTERFACE, PluginKind};
pub use outcome::{Outcome, RecordResult, RecordStats, RecordView};
pub use output::{Format, ResultWriter};
pub use plugin::PluginInfo;
pub use pool::Pool;
pub use results::{Results, TryNext};
pub use source::PluginSource;
