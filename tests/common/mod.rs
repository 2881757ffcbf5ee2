//! Helpers shared by the end-to-end tests: run the real `sandmap` binary
//! in a temp dir and look at what it did.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub use sandmap_test_artifacts as plugins;

/// The binary under test, with its compile cache in the build's temp
/// directory (not the user's).
pub fn sandmap() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sandmap"));
    command.env("SANDMAP_CACHE_DIR", test_cache_dir());
    command
}

/// The compile cache the tests share.
pub fn test_cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sandmap-cache")
}

/// A finished run.
#[derive(Debug)]
pub struct Run {
    pub output: Output,
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.output.status.code()
    }
    pub fn stdout(&self) -> String {
        String::from_utf8(self.output.stdout.clone()).expect("stdout is UTF-8")
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    /// The stdout lines parsed as JSON.
    pub fn jsonl(&self) -> Vec<serde_json::Value> {
        parse_jsonl(&self.stdout())
    }
    /// Asserts that no Rust panic or backtrace reached stderr.
    pub fn assert_no_panic(&self) {
        let stderr = self.stderr();
        assert!(!stderr.contains("panicked"), "stderr: {stderr}");
        assert!(!stderr.contains("RUST_BACKTRACE"), "stderr: {stderr}");
    }
}

/// Parses JSON lines; panics on a torn or invalid line.
pub fn parse_jsonl(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON line {line:?}: {e}"))
        })
        .collect()
}

/// Runs sandmap with `args`, feeding `stdin`.
pub fn run(args: &[&str], stdin: &[u8]) -> Run {
    let mut child = sandmap()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sandmap");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let output = child.wait_with_output().expect("wait for sandmap");
    writer.join().unwrap();
    Run { output }
}

/// A temporary directory for one test.
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        Scratch {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).expect("write scratch file");
        path
    }
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// `n` lines `line 0 of the input`, ..., each ending in a newline.
pub fn numbered_lines(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("line {i} of the input, mixed Case"))
        .collect()
}

/// Lines joined with newlines, with a final newline.
pub fn join_lines(lines: &[String]) -> Vec<u8> {
    let mut text = lines.join("\n");
    text.push('\n');
    text.into_bytes()
}

/// The stdout of a successful `run`, asserting exit 0.
pub fn ok_stdout(run: &Run) -> String {
    assert_eq!(run.code(), Some(0), "stderr: {}", run.stderr());
    run.stdout()
}

/// The `kind` of each error object, by index.
pub fn kinds(values: &[serde_json::Value]) -> Vec<(u64, String)> {
    values
        .iter()
        .filter(|v| v["status"] == "error")
        .map(|v| {
            (
                v["index"].as_u64().unwrap(),
                v["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Waits for the child `pid`; returns its exit code and peak RSS in KiB.
pub fn wait_with_rusage(pid: u32) -> (i32, i64) {
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid as i32, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid as i32);
    (libc::WEXITSTATUS(status), usage.ru_maxrss)
}

/// A finished child: exit code, peak RSS and what it wrote to stderr.
pub struct Measured {
    pub code: i32,
    pub max_rss_kib: i64,
    pub stderr: String,
    pub elapsed: std::time::Duration,
}

/// The peak RSS of process `pid`'s own memory (`VmHWM`), in KiB; `None`
/// once it has exited.
pub fn own_peak_rss_kib(pid: u32) -> Option<i64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    line.trim().trim_end_matches("kB").trim().parse().ok()
}

/// Runs sandmap with `args`, stdin from `input`, stdout to `output` (or
/// discarded), and measures the peak RSS of its own memory by sampling
/// `VmHWM` until it exits (`wait4`'s `ru_maxrss` would count the pages of
/// the test process it was spawned from). Kills it and fails after `limit`.
#[allow(clippy::zombie_processes, reason = "reaped by wait4 below")]
pub fn measure(
    args: &[&str],
    input: &Path,
    output: Option<&Path>,
    limit: std::time::Duration,
) -> Measured {
    let stdout = match output {
        Some(path) => Stdio::from(std::fs::File::create(path).unwrap()),
        None => Stdio::null(),
    };
    let started = std::time::Instant::now();
    let mut child = sandmap()
        .args(args)
        .stdin(std::fs::File::open(input).unwrap())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sandmap");
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let pid = child.id();
    let mut peak = 0;
    let mut killed = false;
    while let Some(kib) = own_peak_rss_kib(pid) {
        peak = peak.max(kib);
        if started.elapsed() > limit {
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            killed = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let (code, _) = wait_with_rusage(pid);
    let elapsed = started.elapsed();
    std::mem::forget(child);
    let stderr = reader.join().unwrap();
    assert!(
        !killed,
        "sandmap {args:?} ran past {limit:?} and was killed; stderr: {stderr}"
    );
    Measured {
        code,
        max_rss_kib: peak,
        stderr,
        elapsed,
    }
}
