//! Configuring a pool: typed setters for every setting, and one place that
//! checks the whole configuration before anything is loaded.

use std::time::Duration;

use crate::build_error::{BuildError, ConfigError, LoadError, WasmError};
use crate::cache::CompileCache;
use crate::config::{Config, Order, Retry, Shard};
use crate::engine::{Engine, EngineSettings, MAX_JOBS};
use crate::grants::DirGrant;
use crate::limits::{Limits, MAX_TIMEOUT};
use crate::plugin::Plugin;
use crate::pool::Pool;
use crate::source::{LoadOptions, PluginSource};
use crate::wasi::WasiSetup;

/// Configures a [`Pool`]; made by [`Pool::builder`]. Every setting has a
/// default that holds without being set: one worker per core, no fuel or
/// time limit, 1 GiB of memory and 64 MiB of output per record, nothing
/// granted, results in input order.
///
/// ```
/// # let upper = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/upper-wat/upper.wat");
/// use std::time::Duration;
/// use sandmap::{ErrorKind, Pool, Retry};
///
/// let pool = Pool::builder(upper)
///     .jobs(4)
///     .fuel(100_000_000)
///     .timeout(Duration::from_secs(2))
///     .max_memory(64 << 20)
///     .env("LANG", "C")
///     .dir_read_only(std::env::temp_dir(), "/data")
///     .retry(Retry::new([ErrorKind::Timeout], 2))
///     .build()?;
/// assert_eq!(pool.config().jobs, 4);
///
/// // Settings that cannot work are refused, with a typed error.
/// let error = Pool::builder(upper).jobs(0).build().unwrap_err();
/// assert!(matches!(error, sandmap::BuildError::Config(sandmap::ConfigError::Jobs { .. })));
/// # Ok::<(), sandmap::BuildError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct PoolBuilder {
    source: PluginSource,
    config: Config,
    jobs: Option<usize>,
    cache: Option<CompileCache>,
    allow_precompiled: bool,
}

impl Pool {
    /// Starts configuring a pool for `plugin`: a path (`&str`, `Path`,
    /// `PathBuf`) or [`PluginSource::bytes`].
    pub fn builder(plugin: impl Into<PluginSource>) -> PoolBuilder {
        PoolBuilder::new(plugin.into())
    }
}

impl PoolBuilder {
    pub(crate) fn new(source: PluginSource) -> Self {
        PoolBuilder {
            source,
            config: Config::default(),
            jobs: None,
            cache: None,
            allow_precompiled: false,
        }
    }

    /// Worker threads (default: one per available core).
    pub fn jobs(mut self, jobs: usize) -> Self {
        self.jobs = Some(jobs);
        self
    }

    /// All the per-record limits at once.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.config.limits = limits;
        self
    }

    /// Fuel budget per record (about one unit per wasm instruction).
    pub fn fuel(mut self, fuel: u64) -> Self {
        self.config.limits.fuel = Some(fuel);
        self
    }

    /// Wall-clock limit per record, start-up and host calls included.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.limits.timeout = Some(timeout);
        self
    }

    /// Cap on an instance's memories and tables, added up, in bytes.
    pub fn max_memory(mut self, bytes: u64) -> Self {
        self.config.limits.max_memory = bytes;
        self
    }

    /// Cap on one record's output, in bytes.
    pub fn max_output(mut self, bytes: u64) -> Self {
        self.config.limits.max_output = bytes;
        self
    }

    /// The longest record [`Pool::map_reader`] reads, in bytes.
    pub fn max_record(mut self, bytes: u64) -> Self {
        self.config.limits.max_record = bytes;
        self
    }

    /// Every record starts from a fresh instance's state: on a new instance
    /// or, for a mapper whose whole state sandmap can put back
    /// ([`PluginInfo::isolates_in_place`](crate::PluginInfo::isolates_in_place)),
    /// on the worker's instance put back after each record.
    pub fn isolate(mut self, isolate: bool) -> Self {
        self.config.isolate = isolate;
        self
    }

    /// Deterministic mode with `seed`: each record from a fresh instance's
    /// state (as with [`isolate`](Self::isolate)), fixed
    /// clocks that advance a fixed step per reading, random bytes seeded by
    /// (seed, record index), canonical NaNs. A record's result then depends
    /// only on the plugin, the settings and its bytes.
    pub fn deterministic(mut self, seed: u64) -> Self {
        self.config.deterministic = Some(seed);
        self
    }

    /// An environment variable the guest sees (nothing else of the host's
    /// environment is visible).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.grants.env.push((key.into(), value.into()));
        self
    }

    /// A directory the guest may use.
    pub fn dir(mut self, grant: DirGrant) -> Self {
        self.config.grants.dirs.push(grant);
        self
    }

    /// A host directory the guest may read, at `guest`.
    pub fn dir_read_only(
        self,
        host: impl Into<std::path::PathBuf>,
        guest: impl Into<String>,
    ) -> Self {
        self.dir(DirGrant::read_only(host, guest))
    }

    /// A host directory the guest may read and write, at `guest`.
    pub fn dir_writable(
        self,
        host: impl Into<std::path::PathBuf>,
        guest: impl Into<String>,
    ) -> Self {
        self.dir(DirGrant::writable(host, guest))
    }

    /// A command plugin's arguments after its name.
    pub fn args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.config.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// The order results come back in (default: input order).
    pub fn order(mut self, order: Order) -> Self {
        self.config.order = order;
        self
    }

    /// The byte between records for [`Pool::map_reader`] (default `\n`).
    pub fn delimiter(mut self, delimiter: u8) -> Self {
        self.config.delimiter = delimiter;
        self
    }

    /// Which failures are run again, and how many times.
    pub fn retry(mut self, retry: Retry) -> Self {
        self.config.retry = retry;
        self
    }

    /// Measure each record's wall time, fuel and memory.
    pub fn stats(mut self, stats: bool) -> Self {
        self.config.stats = stats;
        self
    }

    /// Run only the records of one shard.
    pub fn shard(mut self, shard: Shard) -> Self {
        self.config.shard = Some(shard);
        self
    }

    /// Bytes of results held between the workers and the reader of the
    /// results (default 64 MiB).
    pub fn max_in_flight(mut self, bytes: u64) -> Self {
        self.config.max_in_flight = bytes;
        self
    }

    /// Keep compiled code in `cache` (default: no cache).
    pub fn cache(mut self, cache: CompileCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Accept precompiled code (`sandmap compile` output, a `.cwasm`
    /// file). Loading it is unsafe unless you trust where it came from.
    pub fn allow_precompiled(mut self, allow: bool) -> Self {
        self.allow_precompiled = allow;
        self
    }

    /// The settings as they would be built, checked.
    ///
    /// # Errors
    /// The first setting that is out of range or does not fit the others.
    pub fn validate(&self) -> Result<Config, ConfigError> {
        let mut config = self.config.clone();
        config.jobs = match self.jobs {
            Some(jobs) => jobs,
            None => std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(MAX_JOBS),
        };
        if config.jobs == 0 || config.jobs > MAX_JOBS {
            return Err(ConfigError::Jobs {
                got: config.jobs,
                max: MAX_JOBS,
            });
        }
        let limits = &config.limits;
        if limits.fuel == Some(0) {
            return Err(ConfigError::Zero { what: "fuel" });
        }
        if let Some(timeout) = limits.timeout {
            if timeout.is_zero() {
                return Err(ConfigError::Zero { what: "time" });
            }
            if timeout > MAX_TIMEOUT {
                return Err(ConfigError::Timeout {
                    got: timeout,
                    max: MAX_TIMEOUT,
                });
            }
        }
        if limits.max_memory == 0 {
            return Err(ConfigError::Zero { what: "memory" });
        }
        if let Some(shard) = config.shard
            && (shard.count == 0 || shard.index >= shard.count)
        {
            return Err(ConfigError::Shard {
                index: shard.index,
                count: shard.count,
            });
        }
        Ok(config)
    }

    /// Checks the settings, loads and compiles the plugin, and makes the
    /// pool. Worker threads start with the first run.
    ///
    /// # Errors
    /// [`BuildError::Config`] for settings that are out of range, do not
    /// fit together, or grant a directory that cannot be opened;
    /// [`BuildError::Load`] for a plugin that cannot be read, compiled or
    /// linked, or has no entry point sandmap can run.
    pub fn build(self) -> Result<Pool, BuildError> {
        let config = self.validate()?;
        let dirs = config.grants.open()?;
        let engine = Engine::new(engine_settings(&config))?;
        let options = LoadOptions {
            allow_precompiled: self.allow_precompiled,
            cache: self.cache.clone(),
            dirs_granted: !config.grants.dirs.is_empty(),
        };
        let plugin = Plugin::load(&engine, &self.source, &options)?;
        let wasi = WasiSetup {
            program: plugin.program_name().to_string(),
            args: config.args.clone(),
            env: config.grants.env.clone(),
            dirs,
            deterministic: config.deterministic,
        };
        Ok(Pool::from_parts(plugin, config, wasi))
    }

    /// Compiles the plugin ahead of time for pools with these settings
    /// (what `sandmap compile` writes): load the result with
    /// [`allow_precompiled`](PoolBuilder::allow_precompiled).
    ///
    /// # Errors
    /// As for [`build`](PoolBuilder::build).
    pub fn precompile(self) -> Result<Vec<u8>, BuildError> {
        let config = self.validate()?;
        let engine = Engine::new(engine_settings(&config))?;
        // Loaded and linked as `build` would, so that what has no entry
        // point or needs what sandmap does not provide is refused now, not
        // when the compiled file is run.
        let options = LoadOptions {
            allow_precompiled: false,
            cache: None,
            dirs_granted: !config.grants.dirs.is_empty(),
        };
        let plugin = Plugin::load(&engine, &self.source, &options)?;
        plugin.compiled().serialize().map_err(|e| {
            BuildError::Load(LoadError::Invalid {
                name: self.source.name().to_string(),
                source: WasmError::new(e),
            })
        })
    }
}

/// The engine a configuration needs.
fn engine_settings(config: &Config) -> EngineSettings {
    EngineSettings {
        fuel: config.limits.fuel.is_some(),
        deterministic: config.deterministic.is_some(),
        jobs: config.jobs,
        max_memory: config.limits.max_memory,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> PoolBuilder {
        PoolBuilder::new(PluginSource::bytes("p", b"(module)".to_vec()))
    }

    #[test]
    fn out_of_range_settings_are_refused_by_name() {
        assert!(matches!(
            builder().jobs(0).validate(),
            Err(ConfigError::Jobs { .. })
        ));
        assert!(matches!(
            builder().jobs(MAX_JOBS + 1).validate(),
            Err(ConfigError::Jobs { .. })
        ));
        assert!(matches!(
            builder().fuel(0).validate(),
            Err(ConfigError::Zero { .. })
        ));
        assert!(matches!(
            builder().timeout(Duration::from_secs(u64::MAX)).validate(),
            Err(ConfigError::Timeout { .. })
        ));
        assert!(matches!(
            builder().shard(Shard::new(3, 3)).validate(),
            Err(ConfigError::Shard { .. })
        ));
        assert!(matches!(
            builder().shard(Shard::new(0, 0)).validate(),
            Err(ConfigError::Shard { .. })
        ));
        let config = builder()
            .jobs(3)
            .max_record(u64::MAX)
            .max_output(u64::MAX)
            .validate()
            .unwrap();
        assert_eq!(config.jobs, 3);
    }
}
