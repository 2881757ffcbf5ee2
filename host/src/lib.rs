//! sandmap maps untrusted functions over data, in parallel, in a
//! WebAssembly sandbox.
//!
//! A plugin is a WebAssembly component exporting
//! `sandmap:plugin/mapper@0.1.0` (`map: func(list<u8>) -> result<list<u8>,
//! string>`), or any WASI command program (record on stdin, result on
//! stdout). A [`Pool`] runs it over records on worker threads, one wasmtime
//! store per worker, with per-record fuel, time, memory and output limits;
//! each record's failure is typed ([`ErrorKind`]) and the run goes on.
//!
//! ```no_run
//! use sandmap::{Limits, Pool, RunConfig};
//! use std::time::Duration;
//!
//! let config = RunConfig {
//!     jobs: 2,
//!     limits: Limits { timeout: Some(Duration::from_secs(1)), ..Limits::default() },
//!     ..RunConfig::default()
//! };
//! let pool = Pool::load("upper.wasm".as_ref(), config)?;
//! let results = pool.map(vec![b"hello".to_vec(), b"world".to_vec()]);
//! let cancel = results.cancel_token(); // stops the run from any thread
//! for result in results {
//!     match result.outcome {
//!         Ok(output) => println!("{}: {}", result.index, String::from_utf8_lossy(&output)),
//!         Err(error) => eprintln!("{}: {} ({})", result.index, error, error.kind),
//!     }
//! }
//! # drop(cancel);
//! # Ok::<(), sandmap::LoadError>(())
//! ```
#![deny(missing_docs)]

mod batch;
mod cache;
mod cancel;
mod capture;
mod classify;
mod engine;
mod error;
mod grants;
mod host;
mod limits;
mod plugin;
mod pool;
mod worker;

pub use batch::Outcome;
pub use cache::{CacheOutcome, CompileCache};
pub use cancel::CancelToken;
pub use engine::{Engine, EngineOptions, PoolingOptions};
pub use error::{ErrorKind, LoadError, RecordError};
pub use grants::{DirGrant, Grants, sandbox_note};
pub use limits::Limits;
pub use plugin::{LoadOptions, MAPPER_INTERFACE, Plugin, PluginKind, precompile};
pub use pool::{DEFAULT_MAX_RECORD, Order, Pool, RecordResult, Results, RunConfig, TryNext};
