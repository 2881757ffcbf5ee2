//! A plugin: where its bytes come from, what kind it is, and its compiled,
//! linked form that every worker instantiates.
//!
//! `load.rs` turns bytes into compiled code (text, precompiled code, the
//! compile cache); `link.rs` finds the entry point and links the sandbox's
//! WASI ahead of every instance.

mod link;
mod load;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmtime::component::{ComponentExportIndex, InstancePre};
use wasmtime_wasi::p2::bindings::CommandPre;

use crate::cache::{CacheOutcome, CompileCache};
use crate::engine::Engine;
use crate::error::LoadError;
use crate::host::{ComponentState, ModuleState};

pub(crate) use load::precompile;

/// The interface a mapper component exports.
pub const MAPPER_INTERFACE: &str = "sandmap:plugin/mapper@0.1.0";

/// Where a plugin's bytes come from: a file, or bytes already in memory.
///
/// ```
/// use sandmap::PluginSource;
/// let from_file = PluginSource::from("upper.wasm");
/// assert_eq!(from_file.name(), "upper.wasm");
/// let from_bytes = PluginSource::bytes("inline", b"(module)".to_vec());
/// assert_eq!(from_bytes.name(), "inline");
/// ```
#[derive(Debug, Clone)]
pub struct PluginSource {
    name: String,
    origin: Origin,
}

#[derive(Debug, Clone)]
enum Origin {
    Path(PathBuf),
    Bytes(Arc<[u8]>),
}

impl PluginSource {
    /// A plugin file (`.wasm` component or core module, `.wat` text, or a
    /// precompiled `.cwasm` when allowed).
    pub fn path(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        PluginSource {
            name: path.display().to_string(),
            origin: Origin::Path(path),
        }
    }

    /// Plugin bytes already in memory; `name` is only used in messages and
    /// as a command's `argv[0]`.
    pub fn bytes(name: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        PluginSource {
            name: name.into(),
            origin: Origin::Bytes(bytes.into().into()),
        }
    }

    /// The plugin's name in messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file it is read from, if it comes from one.
    pub fn file(&self) -> Option<&Path> {
        match &self.origin {
            Origin::Path(path) => Some(path),
            Origin::Bytes(_) => None,
        }
    }

    /// Its bytes.
    pub(crate) fn read(&self) -> Result<Arc<[u8]>, LoadError> {
        match &self.origin {
            Origin::Path(path) => {
                std::fs::read(path)
                    .map(Into::into)
                    .map_err(|source| LoadError::Read {
                        name: self.name.clone(),
                        source,
                    })
            }
            Origin::Bytes(bytes) => Ok(bytes.clone()),
        }
    }

    /// The name a command plugin sees as `argv[0]`: the file name.
    fn program_name(&self) -> String {
        match &self.origin {
            Origin::Path(path) => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "plugin".to_string()),
            Origin::Bytes(_) => self.name.clone(),
        }
    }
}

impl From<&Path> for PluginSource {
    fn from(path: &Path) -> Self {
        PluginSource::path(path)
    }
}

impl From<PathBuf> for PluginSource {
    fn from(path: PathBuf) -> Self {
        PluginSource::path(path)
    }
}

impl From<&PathBuf> for PluginSource {
    fn from(path: &PathBuf) -> Self {
        PluginSource::path(path)
    }
}

impl From<&str> for PluginSource {
    fn from(path: &str) -> Self {
        PluginSource::path(path)
    }
}

impl From<String> for PluginSource {
    fn from(path: String) -> Self {
        PluginSource::path(path)
    }
}

/// What kind of plugin was loaded, and so how records are fed to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PluginKind {
    /// A component exporting [`MAPPER_INTERFACE`]: one `map` call per
    /// record, instance reused across records.
    Mapper,
    /// A component exporting `wasi:cli/run`: one run per record, record on
    /// stdin, result on stdout.
    CommandComponent,
    /// A WASI preview 1 core module exporting `_start`: like
    /// [`PluginKind::CommandComponent`].
    CommandModule,
}

impl PluginKind {
    /// Whether records go through stdin/stdout of a fresh instance.
    pub fn is_command(self) -> bool {
        !matches!(self, PluginKind::Mapper)
    }
}

/// What a loaded plugin is: for `inspect`, and for telling users what the
/// sandbox will give it.
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
}

/// How to load a plugin.
#[derive(Debug, Clone, Default)]
pub(crate) struct LoadOptions {
    /// Accept precompiled (`.cwasm`) code.
    pub allow_precompiled: bool,
    /// Where to keep and find compiled code; `None` compiles every time.
    pub cache: Option<CompileCache>,
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

/// The pre-instantiated form of each kind of plugin.
pub(crate) enum Compiled {
    Mapper {
        pre: InstancePre<ComponentState>,
        map: ComponentExportIndex,
    },
    CommandComponent {
        pre: CommandPre<ComponentState>,
    },
    CommandModule {
        pre: wasmtime::InstancePre<ModuleState>,
    },
}

impl Plugin {
    /// Loads, compiles and links the plugin.
    pub fn load(
        engine: &Engine,
        source: &PluginSource,
        options: &LoadOptions,
    ) -> Result<Self, LoadError> {
        let bytes = source.read()?;
        let loaded = load::compile(engine, source, &bytes, options)?;
        let (compiled, imports, exports) = link::link(engine, source.name(), &loaded.code)?;
        let info = PluginInfo {
            name: source.name().to_string(),
            kind: compiled.kind(),
            size: bytes.len(),
            imports,
            exports,
            cache: loaded.cache,
            hash: blake3::hash(&bytes).to_hex().to_string(),
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

impl Compiled {
    fn kind(&self) -> PluginKind {
        match self {
            Compiled::Mapper { .. } => PluginKind::Mapper,
            Compiled::CommandComponent { .. } => PluginKind::CommandComponent,
            Compiled::CommandModule { .. } => PluginKind::CommandModule,
        }
    }
}
