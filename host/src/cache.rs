//! The compile cache: compiled code of each plugin, kept on disk so that
//! later runs skip the compile (seconds for a large component) and map the
//! code straight in (milliseconds).
//!
//! An entry is named by a SHA-256 of the plugin's bytes and of everything
//! in the engine's configuration that compiled code depends on, so a
//! changed plugin or a changed setting (fuel metering, a wasmtime upgrade)
//! is a miss, never a wrong hit. Loading compiled code is unsafe if it was
//! not produced by this engine, so only entries sandmap wrote are loaded:
//! the directory is private to the user (mode 0700), entries are written
//! atomically, and a file not owned by the user, or writable by others, is
//! ignored and rewritten.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Module;
use wasmtime::component::Component;

/// Bumped when the way entries are named or written changes.
const FORMAT: &[u8] = b"sandmap-compile-cache-v1";

/// Where compiled plugins are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileCache {
    dir: PathBuf,
}

/// What the cache did for one plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Compiled code was loaded from the cache.
    Hit,
    /// The plugin was compiled and the result stored.
    Stored,
    /// The plugin was compiled; storing it failed (the run goes on).
    NotStored,
}

impl CompileCache {
    /// A cache in `dir` (created on first store).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        CompileCache { dir: dir.into() }
    }

    /// The user's cache directory for sandmap: `$SANDMAP_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/sandmap`, else `~/.cache/sandmap`.
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("SANDMAP_CACHE_DIR") {
            return Some(PathBuf::from(dir));
        }
        if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(dir).join("sandmap"));
        }
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache").join("sandmap"))
    }

    /// The directory entries live in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Loads the component compiled from `wasm`, compiling and storing it
    /// on a miss.
    pub(crate) fn component(
        &self,
        engine: &wasmtime::Engine,
        wasm: &[u8],
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let path = self.entry(engine, wasm, b"component");
        if self.trusted(&path) {
            // SAFETY: the entry is in the user's private cache directory and
            // owned by the user: sandmap wrote it from these very bytes with
            // an engine of this configuration (both are in its name), and
            // wasmtime checks the header and settings again.
            if let Ok(component) = unsafe { Component::deserialize_file(engine, &path) } {
                return Ok((component, CacheOutcome::Hit));
            }
        }
        let component = Component::from_binary(engine, wasm)?;
        let outcome = self.store(&path, component.serialize().ok());
        Ok((component, outcome))
    }

    /// Loads the core module compiled from `wasm`, compiling and storing it
    /// on a miss.
    pub(crate) fn module(
        &self,
        engine: &wasmtime::Engine,
        wasm: &[u8],
    ) -> wasmtime::Result<(Module, CacheOutcome)> {
        let path = self.entry(engine, wasm, b"module");
        if self.trusted(&path) {
            // SAFETY: as for components above.
            if let Ok(module) = unsafe { Module::deserialize_file(engine, &path) } {
                return Ok((module, CacheOutcome::Hit));
            }
        }
        let module = Module::from_binary(engine, wasm)?;
        let outcome = self.store(&path, module.serialize().ok());
        Ok((module, outcome))
    }

    fn entry(&self, engine: &wasmtime::Engine, wasm: &[u8], kind: &[u8]) -> PathBuf {
        let mut settings = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut settings);
        let mut key = Sha256::new();
        key.update(FORMAT);
        key.update(kind);
        key.update(settings.finish().to_le_bytes());
        key.update(wasm);
        let name: String = key.finalize().iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{name}.cwasm"))
    }

    /// Whether `path` is an entry sandmap wrote: a regular file owned by
    /// this user, writable by nobody else, in a directory likewise.
    fn trusted(&self, path: &Path) -> bool {
        let uid = unsafe { libc::geteuid() };
        let private = |meta: &fs::Metadata| meta.uid() == uid && meta.mode() & 0o022 == 0;
        let dir_ok = fs::metadata(&self.dir).is_ok_and(|m| m.is_dir() && private(&m));
        let file_ok = fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && private(&m));
        dir_ok && file_ok
    }

    fn store(&self, path: &Path, code: Option<Vec<u8>>) -> CacheOutcome {
        let Some(code) = code else {
            return CacheOutcome::NotStored;
        };
        match self.write(path, &code) {
            Ok(()) => CacheOutcome::Stored,
            Err(_) => CacheOutcome::NotStored,
        }
    }

    fn write(&self, path: &Path, code: &[u8]) -> std::io::Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        fs::set_permissions(
            &self.dir,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        let written = file.write_all(code).and_then(|()| file.sync_all());
        drop(file);
        match written.and_then(|()| fs::rename(&tmp, path)) {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }
}
