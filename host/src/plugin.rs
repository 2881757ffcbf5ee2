//! A loaded plugin: what it is, and its compiled, linked form that every
//! worker instantiates. `load.rs` turns bytes into compiled code (text,
//! precompiled code, the compile cache); `link.rs` finds the entry point
//! and links the sandbox's WASI ahead of every instance.

use std::sync::Arc;

use crate::build_error::LoadError;
use crate::cache::CacheOutcome;
use crate::engine::Engine;
use crate::link::{Compiled, PluginKind, link};
use crate::load::compile;
use crate::source::{LoadOptions, PluginSource};

/// What a loaded plugin is: for `inspect`, and for telling users what the
/// sandbox will give it.
///
/// ```
/// # let upper = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/upper-wat/upper.wat");
/// use sandmap::{Pool, PluginKind};
///
/// let pool = Pool::builder(upper).build()?;
/// let plugin = pool.plugin();
/// assert_eq!(plugin.kind, PluginKind::Mapper);
/// assert!(!plugin.kind.is_command());
/// assert_eq!(plugin.exports, ["sandmap:plugin/mapper@0.1.0"]);
/// assert!(plugin.imports.is_empty());
/// # Ok::<(), sandmap::BuildError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PluginInfo {
    /// The plugin's name (its path, for a file).
    pub name: String,
    /// How records are fed to it.
    pub kind: PluginKind,
    /// Size of the plugin's bytes.
    pub size: usize,
    /// What it imports: interface names (`wasi:cli/stdin@0.2.6`) for a
    /// component, `module#name` for a core module.
    pub imports: Vec<String>,
    /// What it exports, by name.
    pub exports: Vec<String>,
    /// What the compile cache did when it was loaded (`None` without a
    /// cache, or for precompiled code).
    pub cache: Option<CacheOutcome>,
    /// The BLAKE3 hash of its bytes, hex: what a journal records.
    pub hash: String,
    /// Whether one instance serves many records on a worker (unless the
    /// run isolates records): always for a mapper; for a command when
    /// sandmap can put its whole state back after each record, so that
    /// every record still starts from a fresh instance's state.
    pub reuses_instances: bool,
    /// Whether records isolated from each other (`--isolate`,
    /// `--deterministic`) still share one instance per worker, put back
    /// to a fresh instance's state after each record: for a mapper whose
    /// whole state sandmap can put back.
    pub isolates_in_place: bool,
}

/// A compiled, linked plugin, ready to be instantiated by any number of
/// workers. Cheap to clone; clones share the compiled code.
#[derive(Clone)]
pub(crate) struct Plugin {
    inner: Arc<PluginInner>,
}

struct PluginInner {
    info: PluginInfo,
    program_name: String,
    engine: Engine,
    compiled: Compiled,
}

impl Plugin {
    /// Loads, compiles and links the plugin.
    pub fn load(
        engine: &Engine,
        source: &PluginSource,
        options: &LoadOptions,
    ) -> Result<Self, LoadError> {
        let bytes = source.read()?;
        let loaded = compile(engine, source, &bytes, options)?;
        let (compiled, imports, exports) =
            link(engine, source.name(), &loaded.code, options.dirs_granted)?;
        let info = PluginInfo {
            name: source.name().to_string(),
            kind: compiled.kind(),
            size: bytes.len(),
            imports,
            exports,
            cache: loaded.cache,
            hash: blake3::hash(&bytes).to_hex().to_string(),
            reuses_instances: compiled.reuses_instances(),
            isolates_in_place: compiled.isolates_in_place(),
        };
        Ok(Plugin {
            inner: Arc::new(PluginInner {
                info,
                program_name: source.program_name(),
                engine: engine.clone(),
                compiled,
            }),
        })
    }

    /// What the plugin is.
    pub fn info(&self) -> &PluginInfo {
        &self.inner.info
    }

    /// The engine it was compiled for.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Its pre-instantiated form.
    pub fn compiled(&self) -> &Compiled {
        &self.inner.compiled
    }

    /// The name a command plugin sees as `argv[0]`.
    pub fn program_name(&self) -> &str {
        &self.inner.program_name
    }
}
