//! The compile cache: compiled code of each plugin, kept on disk so that
//! later runs skip the compile (seconds for a large component).
//!
//! Loading compiled code runs it outside the sandbox's checks, so an entry
//! is only loaded if this user's sandmap wrote it, and that is proved, not
//! assumed from file ownership: every entry is authenticated with a keyed
//! BLAKE3 MAC under a per-user secret kept outside the cache directory
//! (`$XDG_CONFIG_HOME/sandmap/cache.key`, mode 0600). Entry names are keyed
//! too, so a file planted in the directory (by a `git clone`, a tarball, a
//! restored CI cache) is never even looked up, and one whose bytes were
//! changed fails the MAC and is compiled again. An entry is opened without
//! following symlinks, checked on the open descriptor, and read whole
//! before it is checked and loaded, so it cannot change in between.
//!
//! An entry's name covers the plugin's bytes and everything in the
//! engine's configuration that compiled code depends on (wasmtime's
//! compatibility hash: fuel metering, NaN canonicalization, the wasmtime
//! version), so a changed plugin or setting is a miss, never a wrong hit.
//! The directory is kept under [`CACHE_LIMIT`] bytes, least recently used
//! entries going first.

use std::fs;
use std::hash::Hash;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::build_error::ConfigError;

/// Bumped when the way entries are named or written changes.
const FORMAT: &[u8] = b"sandmap-compile-cache-v2";
/// Total size of entries kept; older ones are removed past it.
pub const CACHE_LIMIT: u64 = 2 << 30;
/// Length of the MAC that ends every entry.
const MAC_LEN: usize = 32;
/// Temporary files older than this are left-overs of a crashed run.
const STALE_TMP: Duration = Duration::from_secs(3600);

/// Where compiled plugins are kept, and the key that proves an entry was
/// written by this user's sandmap.
///
/// ```
/// # let upper = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/upper-wat/upper.wat");
/// use sandmap::{CacheOutcome, CompileCache, Pool};
///
/// let scratch = tempfile::tempdir()?;
/// let cache = CompileCache::with_key_file(scratch.path().join("cache"), scratch.path().join("key"))?;
/// let load = || Pool::builder(upper).cache(cache.clone()).build();
/// assert_eq!(load()?.plugin().cache, Some(CacheOutcome::Stored));
/// assert_eq!(load()?.plugin().cache, Some(CacheOutcome::Hit));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileCache {
    dir: PathBuf,
    key_file: PathBuf,
}

/// What the cache did for one plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheOutcome {
    /// Compiled code was loaded from the cache.
    Hit,
    /// The plugin was compiled and the result stored.
    Stored,
    /// The plugin was compiled; storing it failed (the run goes on).
    NotStored,
}

impl CompileCache {
    /// A cache in `dir` (created, mode 0700, on first store), with its key
    /// in the user's configuration directory.
    ///
    /// # Errors
    /// When `dir` is relative (a relative cache path in a script's
    /// environment would make the cache depend on where it runs), or no
    /// configuration directory is known for the key.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, ConfigError> {
        let dir = dir.into();
        let key_file = default_key_file().ok_or_else(|| ConfigError::Cache {
            path: dir.clone(),
            why: "no configuration directory for its key ($XDG_CONFIG_HOME and $HOME are unset or relative)".into(),
        })?;
        Self::with_key_file(dir, key_file)
    }

    /// A cache in `dir` whose key is kept in `key_file` (created, mode
    /// 0600, when missing). The key file must be outside `dir`.
    ///
    /// # Errors
    /// When either path is relative, or the key file is inside `dir`.
    pub fn with_key_file(
        dir: impl Into<PathBuf>,
        key_file: impl Into<PathBuf>,
    ) -> Result<Self, ConfigError> {
        let dir = dir.into();
        let key_file = key_file.into();
        let refuse = |why: &str| ConfigError::Cache {
            path: dir.clone(),
            why: why.into(),
        };
        if !dir.is_absolute() {
            return Err(refuse("the path is relative"));
        }
        if !key_file.is_absolute() {
            return Err(refuse("the key file's path is relative"));
        }
        if key_file.starts_with(&dir) {
            return Err(refuse("the key file must be outside the cache directory"));
        }
        Ok(CompileCache { dir, key_file })
    }

    /// The user's cache directory for sandmap: `$SANDMAP_CACHE_DIR`, else
    /// the platform's cache directory (`$XDG_CACHE_HOME`, else
    /// `~/.cache`, on Linux) joined with `sandmap`. Relative values are
    /// ignored, as the XDG specification says.
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(dir) = absolute_var("SANDMAP_CACHE_DIR") {
            return Some(dir);
        }
        dirs::cache_dir()
            .filter(|dir| dir.is_absolute())
            .map(|dir| dir.join("sandmap"))
    }

    /// The user's cache, if there is a place for it.
    pub fn user_default() -> Option<Self> {
        Self::new(Self::default_dir()?).ok()
    }

    /// The directory entries live in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds the key.
    pub fn key_file(&self) -> &Path {
        &self.key_file
    }

    /// Loads the code compiled from `wasm` as `kind`, or compiles it with
    /// `compile` and stores the result. `deserialize` turns an entry's
    /// bytes back into code.
    pub(crate) fn get_or_compile<T>(
        &self,
        engine: &wasmtime::Engine,
        kind: &str,
        wasm: &[u8],
        compile: impl FnOnce() -> wasmtime::Result<T>,
        serialize: impl FnOnce(&T) -> wasmtime::Result<Vec<u8>>,
        deserialize: impl FnOnce(&[u8]) -> wasmtime::Result<T>,
    ) -> wasmtime::Result<(T, CacheOutcome)> {
        let Ok(key) = self.key() else {
            return Ok((compile()?, CacheOutcome::NotStored));
        };
        let name = entry_name(&key, engine, kind, wasm);
        let path = self.dir.join(&name);
        if let Some(code) = read_entry(&path, &key, &name)
            && let Ok(value) = deserialize(&code)
        {
            // Recently used: kept longest when the cache is trimmed.
            let _ = fs::File::open(&path).and_then(|f| f.set_modified(SystemTime::now()));
            return Ok((value, CacheOutcome::Hit));
        }
        let value = compile()?;
        let outcome = match serialize(&value) {
            Ok(code) if self.write_entry(&path, &key, &name, &code).is_ok() => {
                self.trim();
                CacheOutcome::Stored
            }
            _ => CacheOutcome::NotStored,
        };
        Ok((value, outcome))
    }

    /// The user's key, created on first use.
    fn key(&self) -> std::io::Result<[u8; 32]> {
        if let Some(key) = read_key(&self.key_file)? {
            return Ok(key);
        }
        if let Some(parent) = self.key_file.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)?;
        }
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(std::io::Error::other)?;
        let created = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&self.key_file);
        match created {
            Ok(mut file) => {
                file.write_all(&key)?;
                file.sync_all()?;
                Ok(key)
            }
            // Another run made it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                read_key(&self.key_file)?.ok_or_else(|| std::io::Error::other("cache key vanished"))
            }
            Err(e) => Err(e),
        }
    }

    fn write_entry(
        &self,
        path: &Path,
        key: &[u8; 32],
        name: &str,
        code: &[u8],
    ) -> std::io::Result<()> {
        // Created private if missing; an existing directory is left as it
        // is (it may be one the user chose and shares).
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        let mut file = tempfile::Builder::new()
            .prefix(".tmp-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .tempfile_in(&self.dir)?;
        file.write_all(code)?;
        file.write_all(mac(key, name, code).as_bytes())?;
        file.as_file().sync_all()?;
        file.persist(path).map_err(|e| e.error)?;
        Ok(())
    }

    /// Removes the least recently used entries past [`CACHE_LIMIT`], and
    /// temporary files a crashed run left behind.
    fn trim(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        let now = SystemTime::now();
        let mut kept = Vec::new();
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            let modified = meta.modified().unwrap_or(now);
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(".tmp-") {
                if now.duration_since(modified).unwrap_or_default() > STALE_TMP {
                    let _ = fs::remove_file(entry.path());
                }
            } else if name.ends_with(".cwasm") && meta.is_file() {
                kept.push((modified, meta.len(), entry.path()));
            }
        }
        kept.sort();
        let mut total: u64 = kept.iter().map(|(_, len, _)| len).sum();
        for (_, len, path) in kept {
            if total <= CACHE_LIMIT {
                break;
            }
            if fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
    }
}

/// `$NAME` as a path, if set, non-empty and absolute.
fn absolute_var(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

/// `sandmap/cache.key` in the platform's configuration directory
/// (`$XDG_CONFIG_HOME`, else `~/.config`, on Linux).
fn default_key_file() -> Option<PathBuf> {
    let config = dirs::config_dir().filter(|dir| dir.is_absolute())?;
    Some(config.join("sandmap").join("cache.key"))
}

/// The key in `path`, if it exists; an error if it is not a private file
/// of this user's holding exactly a key.
fn read_key(path: &Path) -> std::io::Result<Option<[u8; 32]>> {
    let file = match open_private(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if file.metadata()?.mode() & 0o077 != 0 {
        return Err(std::io::Error::other("the cache key is readable by others"));
    }
    let mut key = [0u8; 32];
    let mut file = file;
    file.read_exact(&mut key)?;
    let mut rest = [0u8; 1];
    if file.read(&mut rest)? != 0 {
        return Err(std::io::Error::other("the cache key file is not a key"));
    }
    Ok(Some(key))
}

/// Opens `path` without following a symlink there, and checks on the open
/// descriptor that it is a regular file of this user's that nobody else
/// may write.
fn open_private(path: &Path) -> std::io::Result<fs::File> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)?;
    let meta = file.metadata()?;
    let mine = meta.uid() == rustix::process::geteuid().as_raw();
    if !meta.is_file() || !mine || meta.mode() & 0o022 != 0 {
        return Err(std::io::Error::other("not a private file of this user"));
    }
    Ok(file)
}

/// The code of the entry at `path`, if it is there and authentic.
fn read_entry(path: &Path, key: &[u8; 32], name: &str) -> Option<Vec<u8>> {
    let mut file = open_private(path).ok()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    let split = bytes.len().checked_sub(MAC_LEN)?;
    let expected = blake3::Hash::from_slice(&bytes[split..]).ok()?;
    // `blake3::Hash` compares in constant time.
    if mac(key, name, &bytes[..split]) != expected {
        return None;
    }
    bytes.truncate(split);
    Some(bytes)
}

/// The MAC of an entry: keyed BLAKE3 of its name and code.
fn mac(key: &[u8; 32], name: &str, code: &[u8]) -> blake3::Hash {
    let mut mac = blake3::Hasher::new_keyed(key);
    mac.update(FORMAT)
        .update(&(name.len() as u64).to_le_bytes())
        .update(name.as_bytes())
        .update(code);
    mac.finalize()
}

/// An entry's file name: a keyed hash of what the code depends on, so
/// that nobody without the key can know (or plant) it.
fn entry_name(key: &[u8; 32], engine: &wasmtime::Engine, kind: &str, wasm: &[u8]) -> String {
    let mut hasher = blake3::Hasher::new_keyed(key);
    hasher.update(FORMAT).update(kind.as_bytes()).update(b"\0");
    engine
        .precompile_compatibility_hash()
        .hash(&mut HashInto(&mut hasher));
    hasher.update(blake3::hash(wasm).as_bytes());
    format!("{}.cwasm", hasher.finalize().to_hex())
}

/// Feeds a [`std::hash::Hash`] value into BLAKE3 (a stable hash, unlike
/// `DefaultHasher`, whose output may change between Rust releases).
struct HashInto<'a>(&'a mut blake3::Hasher);

impl std::hash::Hasher for HashInto<'_> {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(scratch: &Path) -> CompileCache {
        CompileCache::with_key_file(scratch.join("cache"), scratch.join("config/cache.key"))
            .unwrap()
    }

    fn load(cache: &CompileCache, engine: &wasmtime::Engine, wat: &str) -> CacheOutcome {
        let wasm = wat::parse_str(wat).unwrap();
        let (_, outcome) = cache
            .get_or_compile(
                engine,
                "module",
                &wasm,
                || wasmtime::Module::new(engine, &wasm),
                |m| m.serialize(),
                // SAFETY: test bytes are what `serialize` wrote, after the MAC.
                |bytes| unsafe { wasmtime::Module::deserialize(engine, bytes) },
            )
            .unwrap();
        outcome
    }

    #[test]
    fn entries_are_stored_then_hit_and_planted_ones_are_ignored() {
        let scratch = tempfile::tempdir().unwrap();
        let engine = wasmtime::Engine::default();
        let cache = cache(scratch.path());
        let a = "(module (func (export \"a\")))";
        let b = "(module (func (export \"b\")))";
        assert_eq!(load(&cache, &engine, a), CacheOutcome::Stored);
        assert_eq!(load(&cache, &engine, a), CacheOutcome::Hit);
        assert_eq!(load(&cache, &engine, b), CacheOutcome::Stored);
        let names: Vec<PathBuf> = fs::read_dir(cache.dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(names.len(), 2);
        // Swap the two entries: neither is accepted under the other's name.
        let (x, y) = (fs::read(&names[0]).unwrap(), fs::read(&names[1]).unwrap());
        fs::write(&names[0], &y).unwrap();
        fs::write(&names[1], &x).unwrap();
        assert_eq!(load(&cache, &engine, a), CacheOutcome::Stored);
        assert_eq!(load(&cache, &engine, b), CacheOutcome::Stored);
        // A different key (another user, a restored cache): nothing is hit.
        let other = CompileCache::with_key_file(cache.dir(), scratch.path().join("k2")).unwrap();
        assert_eq!(load(&other, &engine, a), CacheOutcome::Stored);
    }

    #[test]
    fn relative_paths_and_keys_inside_the_cache_are_refused() {
        assert!(CompileCache::with_key_file("rel", "/k").is_err());
        assert!(CompileCache::with_key_file("/c", "k").is_err());
        assert!(CompileCache::with_key_file("/c", "/c/k").is_err());
    }

    #[test]
    fn an_existing_directory_keeps_its_mode() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().join("cache");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let cache = CompileCache::with_key_file(&dir, scratch.path().join("key")).unwrap();
        let engine = wasmtime::Engine::default();
        assert_eq!(load(&cache, &engine, "(module)"), CacheOutcome::Stored);
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o755);
        let key_mode = fs::metadata(cache.key_file()).unwrap().mode() & 0o777;
        assert_eq!(key_mode, 0o600);
    }
}
