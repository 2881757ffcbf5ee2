//! Long runs (SPEC §6): a journal that makes any stop resumable with
//! nothing lost or done twice, retries by kind, re-running what failed,
//! and per-record stats.

mod common;

use std::process::{Child, Stdio};
use std::time::Duration;

use common::*;

/// `n` lines `record I`.
fn input(scratch: &Scratch, n: usize) -> std::path::PathBuf {
    let mut text = String::with_capacity(n * 16);
    for i in 0..n {
        text.push_str(&format!("record {i}\n"));
    }
    scratch.write("in.txt", text.as_bytes())
}

/// Starts `sandmap run` with `args`, input from `input` as a file argument
/// or on stdin.
fn start(args: &[&str], input: &std::path::Path, stdin: bool) -> Child {
    let mut command = sandmap();
    command
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if stdin {
        command.stdin(std::fs::File::open(input).unwrap());
    } else {
        command.arg(input).stdin(Stdio::null());
    }
    command.spawn().expect("start sandmap")
}

/// A small deterministic generator of kill moments.
struct Moments(u64);

impl Moments {
    fn next_ms(&mut self, low: u64, high: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        low + (self.0 >> 33) % (high - low)
    }
}

/// Runs the job to the end with `--resume` after 20 SIGKILLs at random
/// moments (and once a torn write: OUT cut in the middle of a line), and
/// returns OUT.
fn crash_and_resume(scratch: &Scratch, extra: &[&str], stdin: bool, seed: u64) -> Vec<u8> {
    let input = input(scratch, 1_000_000);
    let out = scratch.path("out");
    let journal = scratch.path("journal");
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(&journal);
    let mut args = vec![
        "run",
        plugins::UPPER,
        "-j",
        "2",
        "-o",
        out.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
        "--resume",
    ];
    args.extend(extra);
    let mut moments = Moments(seed);
    for kill in 0..20 {
        let mut child = start(&args, &input, stdin);
        std::thread::sleep(Duration::from_millis(moments.next_ms(30, 400)));
        let _ = child.kill();
        let _ = child.wait();
        if kill == 10 {
            // A torn write: the output ends in the middle of a line.
            let len = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
            if len > 10 {
                let file = std::fs::OpenOptions::new().write(true).open(&out).unwrap();
                file.set_len(len - 7).unwrap();
            }
        }
    }
    let mut last = start(&args, &input, stdin);
    let status = last.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "the last resume did not finish cleanly"
    );
    std::fs::read(&out).unwrap()
}

/// What one uninterrupted run writes.
fn uninterrupted(scratch: &Scratch, extra: &[&str]) -> Vec<u8> {
    let input = input(scratch, 1_000_000);
    let out = scratch.path("reference");
    let mut args = vec![
        "run",
        plugins::UPPER,
        "-j",
        "2",
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    let status = start(&args, &input, false).wait().unwrap();
    assert_eq!(status.code(), Some(0));
    std::fs::read(&out).unwrap()
}

fn sorted_lines(bytes: &[u8]) -> Vec<&[u8]> {
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    lines.sort_unstable();
    lines
}

#[test]
fn killed_runs_resume_to_the_same_output_ordered() {
    let scratch = Scratch::new();
    let reference = uninterrupted(&scratch, &[]);
    let resumed = crash_and_resume(&scratch, &[], false, 1);
    assert!(
        resumed == reference,
        "ordered raw output differs after resumes"
    );
    let reference = uninterrupted(&scratch, &["--format", "jsonl"]);
    let resumed = crash_and_resume(&scratch, &["--format", "jsonl"], false, 2);
    assert!(
        resumed == reference,
        "ordered jsonl output differs after resumes"
    );
}

#[test]
fn killed_runs_resume_to_the_same_lines_unordered() {
    let scratch = Scratch::new();
    let reference = uninterrupted(&scratch, &["--format", "jsonl"]);
    let resumed = crash_and_resume(&scratch, &["--format", "jsonl", "--unordered"], false, 3);
    assert_eq!(sorted_lines(&resumed).len(), sorted_lines(&reference).len());
    assert!(
        sorted_lines(&resumed) == sorted_lines(&reference),
        "the set of lines differs"
    );
}

#[test]
fn killed_runs_resume_from_stdin_too() {
    let scratch = Scratch::new();
    let reference = uninterrupted(&scratch, &[]);
    let resumed = crash_and_resume(&scratch, &[], true, 4);
    assert!(
        resumed == reference,
        "output from stdin differs after resumes"
    );
}

/// A finished journaled run over `lines`, in `scratch`.
fn journaled(scratch: &Scratch, lines: &str, extra: &[&str]) -> Run {
    let input = scratch.write("small.txt", lines.as_bytes());
    let (out, journal) = (scratch.path("small.out"), scratch.path("small.journal"));
    let mut args = vec![
        "run",
        plugins::UPPER,
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
    ];
    args.extend(extra);
    run(&args, b"")
}

#[test]
fn a_journal_of_another_run_is_refused_with_what_differs() {
    let scratch = Scratch::new();
    assert_eq!(journaled(&scratch, "a\nb\n", &[]).code(), Some(0));
    let option = journaled(&scratch, "a\nb\n", &["--resume", "--fuel", "1000000"]);
    assert_eq!(option.code(), Some(2));
    assert!(
        option.stderr().contains("different fuel limit"),
        "{}",
        option.stderr()
    );
    let input = journaled(&scratch, "a\nB-changed\n", &["--resume"]);
    assert_eq!(input.code(), Some(2));
    assert!(
        input
            .stderr()
            .contains("differs from the journal at record 1"),
        "{}",
        input.stderr()
    );
    // Another plugin, same journal.
    let (out, journal) = (scratch.path("small.out"), scratch.path("small.journal"));
    let small = scratch.path("small.txt");
    let plugin = run(
        &[
            "run",
            plugins::UPPER_WAT,
            small.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--journal",
            journal.to_str().unwrap(),
            "--resume",
        ],
        b"",
    );
    assert_eq!(plugin.code(), Some(2));
    assert!(
        plugin.stderr().contains("different plugin"),
        "{}",
        plugin.stderr()
    );
    // -j may change.
    let jobs = journaled(&scratch, "a\nb\n", &["--resume", "-j", "1"]);
    assert_eq!(jobs.code(), Some(0), "{}", jobs.stderr());
}

#[test]
fn resume_without_a_journal_starts_afresh_and_a_bad_journal_is_refused() {
    let scratch = Scratch::new();
    let first = journaled(&scratch, "a\nb\n", &["--resume"]);
    assert_eq!(first.code(), Some(0), "{}", first.stderr());
    assert_eq!(std::fs::read(scratch.path("small.out")).unwrap(), b"A\nB\n");
    std::fs::write(scratch.path("small.journal"), b"{\"index\":0}\n").unwrap();
    let junk = journaled(&scratch, "a\nb\n", &["--resume"]);
    assert_eq!(junk.code(), Some(2));
    assert!(
        junk.stderr().contains("not a sandmap journal"),
        "{}",
        junk.stderr()
    );
    // A journal needs an output file.
    let no_out = run(
        &[
            "run",
            plugins::UPPER,
            "--journal",
            scratch.path("j").to_str().unwrap(),
        ],
        b"a\n",
    );
    assert_eq!(no_out.code(), Some(2));
}

#[test]
fn retries_are_by_kind_and_counted() {
    let result = run(
        &[
            "run",
            plugins::HOSTILE,
            "--format",
            "jsonl",
            "--timeout",
            "100ms",
            "--retry",
            "timeout:2",
            "-j",
            "1",
        ],
        b"spin\nerr\nfine\n",
    );
    let values = result.jsonl();
    assert_eq!(values[0]["kind"], "timeout");
    assert_eq!(values[0]["attempts"], 3);
    assert_eq!(values[1]["kind"], "guest");
    assert!(values[1].get("attempts").is_none(), "guest is not retried");
    assert!(values[2].get("attempts").is_none());
    let default_once = run(
        &[
            "run",
            plugins::HOSTILE,
            "--format",
            "jsonl",
            "--timeout",
            "100ms",
            "--retry",
            "timeout",
        ],
        b"spin\n",
    );
    assert_eq!(default_once.jsonl()[0]["attempts"], 2);
}

#[test]
fn only_failed_reruns_exactly_the_failures_with_their_indices() {
    let scratch = Scratch::new();
    let input = scratch.write("in.txt", b"ok0\nspin\nerr\nok3\nspin\n");
    let first = run(
        &[
            "run",
            plugins::HOSTILE,
            input.to_str().unwrap(),
            "--format",
            "jsonl",
            "--timeout",
            "100ms",
        ],
        b"",
    );
    let prev = scratch.write("prev.jsonl", first.stdout().as_bytes());
    let again = run(
        &[
            "run",
            plugins::UPPER,
            input.to_str().unwrap(),
            "--format",
            "jsonl",
            "--only-failed",
            prev.to_str().unwrap(),
        ],
        b"",
    );
    let indices: Vec<u64> = again
        .jsonl()
        .iter()
        .map(|v| v["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indices, [1, 2, 4]);
    let timeouts = run(
        &[
            "run",
            plugins::UPPER,
            input.to_str().unwrap(),
            "--format",
            "jsonl",
            "--only-failed",
            &format!("{}:timeout", prev.display()),
        ],
        b"",
    );
    let values = timeouts.jsonl();
    assert_eq!(values.len(), 2);
    assert_eq!(values[0]["output"], "SPIN");
    assert_eq!(values[1]["index"], 4);
}

#[test]
fn stats_are_present_and_plausible() {
    let result = run(
        &[
            "run",
            plugins::HOSTILE,
            "--format",
            "jsonl",
            "--stats",
            "--fuel",
            "5000000000",
            "-j",
            "1",
        ],
        b"busy:50\nx\n",
    );
    let values = result.jsonl();
    assert!(
        values[0]["wall_us"].as_u64().unwrap() >= 50_000,
        "{:?}",
        values[0]
    );
    for value in &values {
        let fuel = value["fuel"].as_u64().unwrap();
        assert!(fuel > 0 && fuel <= 5_000_000_000);
        // The Rust guest starts with more than one page of memory.
        assert!(value["memory"].as_u64().unwrap() >= 64 << 10);
    }
    let summary = result.stderr();
    assert!(
        summary.contains("p50") && summary.contains("p99") && summary.contains("(record 0)"),
        "{summary}"
    );
}
