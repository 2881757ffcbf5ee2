//! Which plugins can wait on the host, and so must be called through
//! wasmtime's async API (raced against their timer and the cancel token),
//! and which can be called directly.

/// Whether a plugin with these imports (interface names of a component,
/// `module#name` of a core module) can wait on the host: sleep on a clock,
/// read a granted file that never comes (a FIFO), use a socket. Nothing
/// else the sandbox gives can leave a call pending: stdin is closed or
/// holds the record, stdout and stderr are always ready, and without a
/// granted directory no file can be opened.
pub(crate) fn may_wait(imports: &[String], dirs_granted: bool) -> bool {
    imports.iter().any(|import| {
        let (module, name) = import.split_once('#').unwrap_or((import, ""));
        if module == "wasi_snapshot_preview1" {
            return name == "poll_oneoff"
                || name.starts_with("sock_")
                || (dirs_granted && (name.starts_with("path_") || name.starts_with("fd_")));
        }
        module.starts_with("wasi:clocks/monotonic-clock")
            || module.starts_with("wasi:sockets/")
            || (dirs_granted && module.starts_with("wasi:filesystem/"))
            // Anything this list does not know might wait.
            || !module.starts_with("wasi:")
    })
}
