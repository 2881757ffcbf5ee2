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
    /// User and system CPU time of the child, all its threads.
    pub cpu: Duration,
    pub max_rss_kib: i64,
    pub exit: i32,
}

/// The flag that makes this executable a measuring launcher (see
/// [`run_child`]).
pub const LAUNCHER_FLAG: &str = "--measure-child";

/// Runs `command` (a `sandmap` command line) and returns its stats.
///
/// A child's peak RSS as the kernel reports it includes the memory of the
/// process that spawned it (the child shares or copies its parent's
/// address space until `exec`), and this benchmark holds large inputs. So
/// the child is started by a fresh, small copy of this executable (the
/// launcher, [`launcher_main`]), whose own children report true figures.
pub fn run_child(command: &mut Command, stdin_file: Option<&Path>) -> ChildStats {
    let mut launcher = Command::new(std::env::current_exe().expect("own path"));
    launcher
        .arg(LAUNCHER_FLAG)
        .arg(stdin_file.map_or_else(|| "-".into(), |p| p.as_os_str().to_owned()))
        .arg(command.get_program())
        .args(command.get_args());
    let output = launcher.output().expect("start launcher");
    let text = String::from_utf8_lossy(&output.stdout);
    let fields: Vec<i64> = text
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    let [nanos, cpu_nanos, max_rss_kib, exit] = fields[..] else {
        panic!(
            "launcher failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    ChildStats {
        wall: Duration::from_nanos(nanos as u64),
        cpu: Duration::from_nanos(cpu_nanos as u64),
        max_rss_kib,
        exit: exit as i32,
    }
}

/// The launcher: `LAUNCHER_FLAG STDIN_FILE|- PROGRAM ARGS...`; runs the
/// program and prints `wall_nanos cpu_nanos max_rss_kib exit_code`.
pub fn launcher_main(args: &[std::ffi::OsString]) {
    let stdin_file = (args[0] != "-").then(|| PathBuf::from(&args[0]));
    let mut command = Command::new(&args[1]);
    command.args(&args[2..]);
    let stats = measure_direct(&mut command, stdin_file.as_deref());
    println!(
        "{} {} {} {}",
        stats.wall.as_nanos(),
        stats.cpu.as_nanos(),
        stats.max_rss_kib,
        stats.exit
    );
}

#[allow(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4 below, which also gives its peak RSS"
)]
fn measure_direct(command: &mut Command, stdin_file: Option<&Path>) -> ChildStats {
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
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    ChildStats {
        wall,
        cpu: time(usage.ru_utime) + time(usage.ru_stime),
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
