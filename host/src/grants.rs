//! What a plugin may touch: nothing, unless the user grants it.
//!
//! Every WASI context sandmap builds starts from [`WasiCtxBuilder::new`]
//! (stdin closed, no environment, no arguments, no preopened directory) with
//! the network switched off, then adds exactly the grants listed here.

use std::path::PathBuf;

use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// A host directory made visible to the guest, read-only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// The directory on the host.
    pub host: PathBuf,
    /// The path the guest sees it at.
    pub guest: String,
}

impl DirGrant {
    /// Parses `HOSTDIR[::GUESTDIR]`; without `::GUESTDIR` the guest sees
    /// the directory at the same path as the host.
    pub fn parse(spec: &str) -> Self {
        match spec.split_once("::") {
            Some((host, guest)) => DirGrant {
                host: PathBuf::from(host),
                guest: guest.to_string(),
            },
            None => DirGrant {
                host: PathBuf::from(spec),
                guest: spec.to_string(),
            },
        }
    }
}

/// The capabilities a run grants its plugin. The default grants nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Environment variables the guest sees (and no others).
    pub env: Vec<(String, String)>,
    /// Read-only preopened directories.
    pub dirs: Vec<DirGrant>,
    /// Arguments a command plugin receives after its name.
    pub args: Vec<String>,
}

impl Grants {
    /// Checks that every granted directory can be opened, so that a bad
    /// `--dir` is reported once, before any record runs.
    ///
    /// # Errors
    /// Names the first directory that cannot be opened.
    pub fn check(&self) -> Result<(), String> {
        for dir in &self.dirs {
            if !dir.host.is_dir() {
                return Err(format!(
                    "--dir {}: not a directory that can be opened",
                    dir.host.display()
                ));
            }
        }
        Ok(())
    }

    /// A WASI context builder with exactly these grants and nothing else.
    /// `program` is the command's `argv[0]`.
    pub(crate) fn wasi_builder(&self, program: &str) -> wasmtime::Result<WasiCtxBuilder> {
        let mut builder = WasiCtxBuilder::new();
        builder
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .arg(program)
            .args(&self.args);
        for (key, value) in &self.env {
            builder.env(key, value);
        }
        for dir in &self.dirs {
            builder.preopened_dir(&dir.host, &dir.guest, FsPerms::ReadOnly)?;
        }
        Ok(builder)
    }
}

/// What the sandbox gives a plugin for one of its imports (an interface
/// name such as `wasi:sockets/tcp@0.2.6`, or `module#name` of a core
/// module), with nothing granted. For `sandmap inspect`.
pub fn sandbox_note(import: &str, command: bool) -> &'static str {
    let (module, name) = import.split_once('#').unwrap_or((import, ""));
    let interface = module.split('@').next().unwrap_or(module);
    if module == "wasi_snapshot_preview1" {
        return match name {
            n if n.starts_with("sock_") => "denied: no network",
            n if n.starts_with("path_") || n.starts_with("fd_prestat") => {
                "no directories unless --dir"
            }
            n if n.starts_with("environ_") => "empty unless --env",
            "fd_read" if command => "provided (stdin is the record)",
            _ => "provided",
        };
    }
    match interface {
        i if i.starts_with("wasi:sockets/") => "denied: no network",
        i if i.starts_with("wasi:filesystem/") => "no directories unless --dir",
        "wasi:cli/environment" => "empty unless --env (arguments after --)",
        "wasi:cli/stdin" if command => "provided: the record",
        "wasi:cli/stdin" => "closed",
        "wasi:cli/stdout" if command => "provided: the result",
        "wasi:cli/stdout" | "wasi:cli/stderr" => "captured, not shown",
        _ => "provided",
    }
}
