//! End-to-end tests of stopping: SIGINT/SIGTERM to a running child, and a
//! reader that goes away (`| head -1`).

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Starts sandmap over `input` writing jsonl to `out`.
fn spawn_jsonl(input: &std::path::Path, out: &std::path::Path) -> Child {
    sandmap()
        .args([
            "run",
            plugins::HOSTILE,
            "--format",
            "jsonl",
            "-j",
            "2",
            "-o",
        ])
        .arg(out)
        .arg(input)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sandmap")
}

/// Waits until `path` holds at least `lines` lines.
fn wait_for_lines(path: &std::path::Path, lines: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= lines {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{} never reached {lines} lines", path.display());
}

/// Input: `finished` quick records, then spinning ones.
fn spin_input(scratch: &Scratch, finished: usize) -> std::path::PathBuf {
    let mut lines = numbered_lines(finished);
    lines.extend(std::iter::repeat_n("spin".to_string(), 50));
    scratch.write("input.txt", &join_lines(&lines))
}

fn stop_with(signal: i32) {
    let scratch = Scratch::new();
    let input = spin_input(&scratch, 20);
    let out = scratch.path("out.jsonl");
    let mut child = spawn_jsonl(&input, &out);
    wait_for_lines(&out, 19);
    // Both workers are now spinning with no limit set.
    std::thread::sleep(Duration::from_millis(200));

    let sent = Instant::now();
    unsafe { libc::kill(child.id() as i32, signal) };
    let status = child.wait().unwrap();
    let took = sent.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "exited {took:?} after the signal"
    );
    // Re-raised after cleanup: the shell sees 128 + signal.
    assert_eq!(status.signal(), Some(signal), "status {status:?}");

    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("stopped by"),
        "a summary is printed: {stderr}"
    );

    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.ends_with('\n'), "output ends on a whole record");
    let values = parse_jsonl(&text);
    for i in 0..20u64 {
        let value = values
            .iter()
            .find(|v| v["index"] == i)
            .expect("finished record written");
        assert_eq!(value["status"], "ok");
    }
    let interrupted = kinds(&values)
        .iter()
        .filter(|(_, k)| k == "interrupted")
        .count();
    assert!(
        interrupted >= 1,
        "the spinning records are reported as interrupted"
    );
    assert!(kinds(&values).iter().all(|(_, k)| k == "interrupted"));
}

#[test]
fn sigint_stops_spinning_workers_and_keeps_finished_results() {
    stop_with(libc::SIGINT);
}

#[test]
fn sigterm_stops_the_run_too() {
    stop_with(libc::SIGTERM);
}

#[test]
fn closed_stdout_ends_the_run_quietly() {
    let scratch = Scratch::new();
    let input = scratch.write("big.txt", &join_lines(&numbered_lines(300_000)));
    let mut child = sandmap()
        .args(["run", plugins::UPPER])
        .arg(&input)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is gone now (like `head -1`).
    assert_eq!(first, "LINE 0 OF THE INPUT, MIXED CASE\n");
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}

#[test]
fn a_second_sigint_exits_at_once() {
    // Nobody reads sandmap's stdout, so once the pipe is full it is stuck
    // writing: a first SIGINT cannot finish the clean stop.
    let scratch = Scratch::new();
    let input = scratch.write("big.txt", &join_lines(&numbered_lines(200_000)));
    let mut child = sandmap()
        .args(["run", plugins::UPPER, "-j", "2"])
        .arg(&input)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "stuck writing, it cannot stop cleanly"
    );

    let sent = Instant::now();
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert!(sent.elapsed() < Duration::from_secs(1));
    assert_eq!(status.signal(), Some(libc::SIGINT));
}
