//! What a plugin may touch: nothing, unless the user grants it. Grants are
//! plain data here; `wasi.rs` turns them into a WASI context.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::build_error::ConfigError;

/// A host directory made visible to the guest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct DirGrant {
    /// The directory on the host.
    pub host: PathBuf,
    /// The path the guest sees it at.
    pub guest: String,
    /// Whether the guest may create, write, rename and remove files in it
    /// (otherwise it may only read).
    pub writable: bool,
}

impl DirGrant {
    /// A read-only grant of `host`, seen by the guest at `guest`.
    ///
    /// ```
    /// let grant = sandmap::DirGrant::read_only("/srv/data", "/data");
    /// assert!(!grant.writable);
    /// ```
    pub fn read_only(host: impl Into<PathBuf>, guest: impl Into<String>) -> Self {
        DirGrant {
            host: host.into(),
            guest: guest.into(),
            writable: false,
        }
    }

    /// A writable grant of `host`, seen by the guest at `guest`.
    pub fn writable(host: impl Into<PathBuf>, guest: impl Into<String>) -> Self {
        DirGrant {
            writable: true,
            ..DirGrant::read_only(host, guest)
        }
    }
}

impl std::str::FromStr for DirGrant {
    type Err = std::convert::Infallible;

    /// Parses `HOSTDIR[::GUESTDIR]` as a read-only grant; without
    /// `::GUESTDIR` the guest sees the directory at the host's path.
    ///
    /// ```
    /// let grant: sandmap::DirGrant = "data::/in".parse().unwrap();
    /// assert_eq!(grant.host, std::path::Path::new("data"));
    /// assert_eq!(grant.guest, "/in");
    /// ```
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        Ok(match spec.split_once("::") {
            Some((host, guest)) => DirGrant::read_only(host, guest),
            None => DirGrant::read_only(spec, spec),
        })
    }
}

/// The capabilities a run grants its plugin. The default grants nothing.
///
/// ```
/// # let upper = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/upper-wat/upper.wat");
/// let pool = sandmap::Pool::builder(upper)
///     .env("MODE", "fast")
///     .dir_writable(std::env::temp_dir(), "/scratch")
///     .build()?;
/// let grants = &pool.config().grants;
/// assert_eq!(grants.env, [("MODE".to_string(), "fast".to_string())]);
/// assert!(grants.any_writable());
/// assert!(sandmap::Grants::default().dirs.is_empty());
/// # Ok::<(), sandmap::BuildError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Grants {
    /// Environment variables the guest sees (and no others).
    pub env: Vec<(String, String)>,
    /// Preopened directories.
    pub dirs: Vec<DirGrant>,
}

impl Grants {
    /// Whether any granted directory is writable.
    pub fn any_writable(&self) -> bool {
        self.dirs.iter().any(|dir| dir.writable)
    }

    /// Checks every grant and opens every granted directory once, so that
    /// a bad grant is reported before any record runs and the directories
    /// the guest sees cannot be swapped for others during the run.
    pub(crate) fn open(&self) -> Result<Vec<OpenDir>, ConfigError> {
        for (key, _) in &self.env {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                return Err(ConfigError::EnvName(key.clone()));
            }
        }
        self.dirs.iter().map(OpenDir::open).collect()
    }
}

/// A granted directory, opened when the pool was built.
#[derive(Debug, Clone)]
pub(crate) struct OpenDir {
    /// Keeps the directory open for the pool's lifetime.
    _handle: Arc<std::fs::File>,
    /// What WASI opens: the open handle's `/proc/self/fd` path where there
    /// is one (so the grant is the directory opened at build time, whatever
    /// happens to the host path later), else the canonical path.
    path: PathBuf,
    pub guest: String,
    pub writable: bool,
}

impl OpenDir {
    fn open(grant: &DirGrant) -> Result<Self, ConfigError> {
        let bad_guest = |why| ConfigError::GuestPath {
            host: grant.host.clone(),
            guest: grant.guest.clone(),
            why,
        };
        if grant.guest.is_empty() {
            return Err(bad_guest("the guest path is empty"));
        }
        if grant.guest.contains('\0') {
            return Err(bad_guest("the guest path contains a NUL byte"));
        }
        let dir_error = |source| ConfigError::Dir {
            path: grant.host.clone(),
            source,
        };
        let canonical = std::fs::canonicalize(&grant.host).map_err(dir_error)?;
        let handle = std::fs::File::open(&canonical).map_err(dir_error)?;
        let meta = handle.metadata().map_err(dir_error)?;
        if !meta.is_dir() {
            return Err(dir_error(std::io::Error::new(
                std::io::ErrorKind::NotADirectory,
                "not a directory",
            )));
        }
        let path = fd_path(&handle).unwrap_or(canonical);
        Ok(OpenDir {
            _handle: Arc::new(handle),
            path,
            guest: grant.guest.clone(),
            writable: grant.writable,
        })
    }

    /// The path WASI opens for this grant.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// `/proc/self/fd/N` for an open file, where the system has it.
fn fd_path(file: &std::fs::File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    let path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    std::fs::metadata(&path)
        .ok()
        .filter(|m| m.is_dir())
        .map(|_| path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_is_the_directory_opened_at_build_time() {
        let scratch = tempfile::tempdir().unwrap();
        let data = scratch.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("file"), b"first").unwrap();
        let dirs = Grants {
            dirs: vec![DirGrant::read_only(&data, "/d")],
            ..Grants::default()
        }
        .open()
        .unwrap();
        // The host path is swapped for another directory afterwards.
        std::fs::rename(&data, scratch.path().join("moved")).unwrap();
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("file"), b"second").unwrap();
        let seen = std::fs::read(dirs[0].path().join("file")).unwrap();
        assert_eq!(seen, b"first");
    }

    #[test]
    fn bad_grants_are_refused() {
        let missing = Grants {
            dirs: vec![DirGrant::read_only("/no/such/dir", "/d")],
            ..Grants::default()
        };
        assert!(matches!(missing.open(), Err(ConfigError::Dir { .. })));
        let file = Grants {
            dirs: vec![DirGrant::read_only("/etc/hostname", "/d")],
            ..Grants::default()
        };
        assert!(file.open().is_err());
        let empty_guest = Grants {
            dirs: vec![DirGrant::read_only("/tmp", "")],
            ..Grants::default()
        };
        assert!(matches!(
            empty_guest.open(),
            Err(ConfigError::GuestPath { .. })
        ));
        let env = Grants {
            env: vec![("A=B".into(), "c".into())],
            ..Grants::default()
        };
        assert!(matches!(env.open(), Err(ConfigError::EnvName(_))));
    }
}
