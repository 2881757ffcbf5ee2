//! Why a pool could not be built: settings that do not fit, or a plugin
//! that cannot be loaded. Every cause underneath is kept.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::one_line;

/// Why a [`Pool`](crate::Pool) could not be built.
///
/// ```
/// use sandmap::{BuildError, LoadError, Pool, PluginSource};
///
/// let error = Pool::builder("no/such/plugin.wasm").build().unwrap_err();
/// assert!(matches!(error, BuildError::Load(LoadError::Read { .. })));
/// let error = Pool::builder(PluginSource::bytes("junk", b"junk".to_vec())).build().unwrap_err();
/// assert_eq!(error.to_string(), "junk is not a WebAssembly module or component (nor .wat text)");
/// // The cause underneath is kept.
/// let error = Pool::builder("no/such/plugin.wasm").build().unwrap_err();
/// let cause = std::error::Error::source(&error);
/// assert!(cause.is_some_and(|c| c.is::<std::io::Error>()));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The settings are invalid or do not fit together.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The plugin could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
}

/// A setting that is out of range, or settings that do not fit together.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The number of worker threads is zero or too large.
    #[error("the number of workers must be between 1 and {max} (got {got})")]
    Jobs {
        /// What was asked for.
        got: usize,
        /// The most this machine's address space allows.
        max: usize,
    },
    /// A time limit longer than sandmap can arm.
    #[error("the time limit per record must be at most {} (got {})", humantime::format_duration(*max), humantime::format_duration(*got))]
    Timeout {
        /// What was asked for.
        got: Duration,
        /// The longest limit accepted.
        max: Duration,
    },
    /// A limit of zero, which no record could meet.
    #[error("the {what} limit must be more than zero")]
    Zero {
        /// Which limit.
        what: &'static str,
    },
    /// A granted directory that cannot be used.
    #[error("cannot grant directory {path}: {source}")]
    Dir {
        /// The host path.
        path: PathBuf,
        /// Why it cannot be opened.
        #[source]
        source: std::io::Error,
    },
    /// A guest path that WASI cannot preopen.
    #[error("cannot grant directory {host} as `{guest}`: {why}")]
    GuestPath {
        /// The host path.
        host: PathBuf,
        /// The path the guest was to see.
        guest: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// An environment variable name the guest cannot be given.
    #[error(
        "invalid environment variable name `{0}`: it must be non-empty and contain no `=` or NUL"
    )]
    EnvName(String),
    /// A shard that is not one of `0..count`.
    #[error(
        "shard {index} of {count} does not exist: the index must be below the count, and the count above zero"
    )]
    Shard {
        /// The shard's index.
        index: u64,
        /// How many shards there are.
        count: u64,
    },
    /// The compile cache directory cannot be used.
    #[error("cannot use compile cache directory {path}: {why}")]
    Cache {
        /// The directory.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// Two settings that cannot be used together.
    #[error("{0}")]
    Conflict(&'static str),
}

/// Why a plugin could not be loaded. Every variant is reported before any
/// record is read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The plugin file could not be read.
    #[error("cannot read plugin {name}: {source}")]
    Read {
        /// The plugin's name (its path).
        name: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are neither WebAssembly nor WebAssembly text.
    #[error("{name} is not a WebAssembly module or component (nor .wat text)")]
    NotWasm {
        /// The plugin's name.
        name: String,
    },
    /// WebAssembly text that does not parse.
    #[error("{name} is not valid WebAssembly text: {message}")]
    Text {
        /// The plugin's name.
        name: String,
        /// The parser's message, with its line and column.
        message: String,
    },
    /// Precompiled code, which was not allowed.
    #[error(
        "{name} is precompiled machine code; loading it is unsafe unless you trust it, and it was not allowed"
    )]
    PrecompiledRefused {
        /// The plugin's name.
        name: String,
    },
    /// wasmtime refused the bytes (invalid wasm, a switched-off feature
    /// such as threads, precompiled code from other settings, ...).
    #[error("{name} is not a valid plugin: {}", one_line(source))]
    Invalid {
        /// The plugin's name.
        name: String,
        /// wasmtime's error.
        #[source]
        source: WasmError,
    },
    /// The plugin needs more memory to start than the memory cap allows.
    #[error("{name} cannot run under the memory cap: {what}")]
    TooBig {
        /// The plugin's name.
        name: String,
        /// What it needs.
        what: String,
    },
    /// Valid wasm without an entry point sandmap can run.
    #[error("{name}: {what}")]
    NoEntryPoint {
        /// The plugin's name.
        name: String,
        /// What is missing, e.g. that the `mapper` export is absent.
        what: String,
    },
    /// The plugin imports something the sandbox does not provide.
    #[error("{name} cannot be linked: {}", one_line(source))]
    Link {
        /// The plugin's name.
        name: String,
        /// wasmtime's error.
        #[source]
        source: WasmError,
    },
    /// The engine could not be configured (a CPU without a feature the
    /// compiler needs, an address space too small for the worker slots).
    #[error("cannot set up the WebAssembly engine: {}", one_line(source))]
    Engine {
        /// wasmtime's error.
        #[source]
        source: WasmError,
    },
}

/// An error from wasmtime, kept whole (its chain of causes included) so
/// that [`std::error::Error::source`] can walk it.
pub struct WasmError(Box<dyn std::error::Error + Send + Sync + 'static>);

impl WasmError {
    pub(crate) fn new(error: wasmtime::Error) -> Self {
        WasmError(error.into_boxed_dyn_error())
    }
}

impl fmt::Debug for WasmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for WasmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for WasmError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_errors_keep_their_cause() {
        let error = LoadError::Invalid {
            name: "p.wasm".into(),
            source: WasmError::new(wasmtime::Error::msg("inner cause").context("outer\ncontext")),
        };
        assert_eq!(
            error.to_string(),
            "p.wasm is not a valid plugin: outer context: inner cause"
        );
        let source = std::error::Error::source(&error).expect("a source");
        assert!(source.to_string().contains("outer"));
    }
}
