//! Running things and measuring them: wall time of a closure, and wall
//! time plus peak RSS of a child process.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The `sandmap` binary next to this benchmark's own executable (both are
/// built by `cargo build --release --workspace`).
pub fn sandmap_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    let path = exe.with_file_name("sandmap");
    assert!(
        path.exists(),
        "{} not found: run `cargo build --release --workspace` first",
        path.display()
    );
    path
}

/// Wall time and peak resident memory of one child process.
#[derive(Debug, Clone, Copy)]
pub struct ChildStats {
    pub wall: Duration,
    pub max_rss_kib: i64,
    pub exit: i32,
}

/// Runs `command`, feeding it `stdin_file` if given (streamed through a
/// pipe), discarding its stdout; returns its stats.
pub fn run_child(command: &mut Command, stdin_file: Option<&Path>) -> ChildStats {
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    command.stdin(if stdin_file.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let started = Instant::now();
    let mut child = command.spawn().expect("start child");
    let feeder = stdin_file.map(|path| {
        let mut stdin = child.stdin.take().unwrap();
        let path = path.to_path_buf();
        std::thread::spawn(move || {
            let mut file = std::fs::File::open(path).unwrap();
            let _ = std::io::copy(&mut file, &mut stdin);
            let _ = stdin.flush();
        })
    });
    let stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as i32;
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert_eq!(waited, pid);
    if let Some(feeder) = feeder {
        feeder.join().unwrap();
    }
    let stderr = errors.join().unwrap();
    let exit = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    if exit > 1 {
        eprintln!("child failed ({exit}): {stderr}");
    }
    ChildStats {
        wall,
        max_rss_kib: usage.ru_maxrss,
        exit,
    }
}

/// Median of `runs` timings of `f`.
pub fn median_time(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// Median of `runs` child runs (by wall time).
pub fn median_child(runs: usize, mut f: impl FnMut() -> ChildStats) -> ChildStats {
    let mut all: Vec<ChildStats> = (0..runs).map(|_| f()).collect();
    all.sort_by_key(|s| s.wall);
    all[all.len() / 2]
}
