//! Where a plugin's bytes come from, and how they may be loaded.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::build_error::LoadError;
use crate::cache::CompileCache;

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
    pub(crate) fn program_name(&self) -> String {
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

/// How to load a plugin.
#[derive(Debug, Clone, Default)]
pub(crate) struct LoadOptions {
    /// Accept precompiled (`.cwasm`) code.
    pub allow_precompiled: bool,
    /// Where to keep and find compiled code; `None` compiles every time.
    pub cache: Option<CompileCache>,
    /// Whether the run grants directories (a guest may then wait on a
    /// file, and is called through the async API).
    pub dirs_granted: bool,
}
