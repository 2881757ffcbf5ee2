//! End-to-end tests of `sandmap merge`: shards of real runs merge back to
//! the unsharded run byte for byte, later files win, gaps and invalid
//! files are refused by file and line, raw output is what `run` prints,
//! memory stays bounded, and the shards example works.

mod common;

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// `sandmap run PLUGIN INPUT --format jsonl EXTRA...`, asserting that it
/// ran to the end (exit 0 or 1); its stdout.
fn jsonl_run(plugin: &str, input: &Path, extra: &[&str]) -> Vec<u8> {
    let mut args = vec!["run", plugin, path_str(input), "--format", "jsonl"];
    args.extend_from_slice(extra);
    let result = run(&args, b"");
    assert!(
        matches!(result.code(), Some(0 | 1)),
        "run {extra:?}: {}",
        result.stderr()
    );
    result.output.stdout
}

/// Runs every shard of `n` into `part-K.jsonl` in `scratch`, with `-o`.
fn shard_files(
    scratch: &Scratch,
    plugin: &str,
    input: &Path,
    n: u64,
    extra: &[&str],
) -> Vec<PathBuf> {
    (0..n)
        .map(|k| {
            let part = scratch.path(&format!("part-{k}.jsonl"));
            let shard = format!("{k}/{n}");
            let mut args = vec!["--shard", &shard, "-o", path_str(&part)];
            args.extend_from_slice(extra);
            let stdout = jsonl_run(plugin, input, &args);
            assert!(stdout.is_empty(), "-o FILE leaves stdout empty");
            part
        })
        .collect()
}

/// `sandmap merge FILES... EXTRA...`.
fn merge(files: &[PathBuf], extra: &[&str]) -> Run {
    let mut args = vec!["merge"];
    args.extend(files.iter().map(|f| path_str(f)));
    args.extend_from_slice(extra);
    let result = run(&args, b"");
    result.assert_no_panic();
    result
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// 40 records, every fifth one empty (UPPER fails it, kind guest).
fn input_with_failures(scratch: &Scratch) -> PathBuf {
    let lines: Vec<String> = (0..40)
        .map(|i| {
            if i % 5 == 3 {
                String::new()
            } else {
                format!("record {i} é")
            }
        })
        .collect();
    scratch.write("input.txt", &join_lines(&lines))
}

#[test]
fn shards_merge_to_the_unsharded_run_byte_for_byte() {
    let scratch = Scratch::new();
    let input = input_with_failures(&scratch);
    let whole = jsonl_run(plugins::UPPER, &input, &["-j", "2"]);
    let values = parse_jsonl(std::str::from_utf8(&whole).unwrap());
    assert_eq!(values.len(), 40);
    assert_eq!(kinds(&values).len(), 8, "the input has failing records");

    for n in [1, 2, 3, 7] {
        let dir = Scratch::new();
        let mut parts = shard_files(&dir, plugins::UPPER, &input, n, &["-j", "2"]);
        let merged = merge(&parts, &[]);
        assert_eq!(merged.code(), Some(1), "{n} shards: {}", merged.stderr());
        assert_eq!(merged.output.stdout, whole, "{n} shards");

        // Disjoint shards: the order they are named in does not matter.
        parts.reverse();
        let reversed = merge(&parts, &[]);
        assert_eq!(reversed.output.stdout, whole, "{n} shards, reversed");
    }
}

#[test]
fn the_last_file_named_wins_an_index() {
    let scratch = Scratch::new();
    // Record 1 runs out of a small fuel budget; record 3 always fails.
    let long = "x".repeat(100_000);
    let records = ["a", long.as_str(), "b", "", "c"].map(String::from);
    let input = scratch.write("input.txt", &join_lines(&records));
    let first = jsonl_run(plugins::UPPER, &input, &["--fuel", "100000"]);
    let failed = kinds(&parse_jsonl(std::str::from_utf8(&first).unwrap()));
    assert_eq!(failed, [(1, "fuel".into()), (3, "guest".into())]);
    let first_file = scratch.write("run.jsonl", &first);

    // The retry: only the records that ran out of fuel, without a budget.
    let only_failed = format!("{}:fuel", path_str(&first_file));
    let retry = jsonl_run(plugins::UPPER, &input, &["--only-failed", &only_failed]);
    assert_eq!(parse_jsonl(std::str::from_utf8(&retry).unwrap()).len(), 1);
    let retry_file = scratch.write("retry.jsonl", &retry);

    let merged = merge(&[first_file.clone(), retry_file.clone()], &[]);
    assert_eq!(merged.code(), Some(1), "record 3 still fails");
    assert_eq!(merged.output.stdout, jsonl_run(plugins::UPPER, &input, &[]));

    let merged = merge(&[retry_file, first_file], &[]);
    assert_eq!(merged.code(), Some(1));
    assert_eq!(
        merged.output.stdout, first,
        "the first run, named last, wins"
    );
}

#[test]
fn a_missing_index_fails_unless_gaps_are_allowed() {
    let scratch = Scratch::new();
    let input = scratch.write("input.txt", &join_lines(&numbered_lines(10)));
    let parts = shard_files(&scratch, plugins::UPPER, &input, 3, &[]);
    let without_1 = [parts[0].clone(), parts[2].clone()];

    let refused = merge(&without_1, &[]);
    assert_eq!(refused.code(), Some(2));
    assert!(
        refused.stderr().contains("part-2.jsonl line 1:"),
        "the line after the gap is named: {}",
        refused.stderr()
    );

    let allowed = merge(&without_1, &["--allow-gaps"]);
    assert_eq!(allowed.code(), Some(0), "{}", allowed.stderr());
    let indices: Vec<u64> = allowed
        .jsonl()
        .iter()
        .map(|v| v["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indices, [0, 2, 3, 5, 6, 8, 9]);

    // A first index other than 0 is a gap too.
    let refused = merge(&parts[1..2], &[]);
    assert_eq!(refused.code(), Some(2));
    assert!(refused.stderr().contains("part-1.jsonl line 1:"));
    assert_eq!(merge(&parts[1..2], &["--allow-gaps"]).code(), Some(0));
}

/// The line number (from 1) of the first line whose index is not above
/// the one before.
fn first_unordered_line(jsonl: &[u8]) -> Option<usize> {
    let values = parse_jsonl(std::str::from_utf8(jsonl).unwrap());
    let indices: Vec<u64> = values
        .iter()
        .map(|v| v["index"].as_u64().unwrap())
        .collect();
    indices.windows(2).position(|w| w[1] <= w[0]).map(|i| i + 2)
}

/// Asserts that merging `files` exits 2 with one line that names `place`.
fn assert_refused(files: &[PathBuf], place: &str) {
    let refused = merge(files, &[]);
    let stderr = refused.stderr();
    assert_eq!(refused.code(), Some(2), "{files:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(place), "{place}: {stderr}");
}

#[test]
fn invalid_files_are_refused_by_file_and_line() {
    let scratch = Scratch::new();
    let input = scratch.write("input.txt", &join_lines(&numbered_lines(6)));
    let good = String::from_utf8(jsonl_run(plugins::UPPER, &input, &[])).unwrap();
    let lines: Vec<&str> = good.lines().collect();
    let edited = |name: &str, edit: &dyn Fn(&mut Vec<&str>)| {
        let mut copy = lines.clone();
        edit(&mut copy);
        scratch.write(name, format!("{}\n", copy.join("\n")).as_bytes())
    };

    let malformed = edited("malformed.jsonl", &|l| l[2] = "{\"index\":2,");
    assert_refused(&[malformed], "malformed.jsonl line 3:");
    let no_index = edited("no-index.jsonl", &|l| {
        l[1] = "{\"status\":\"ok\",\"output\":\"\"}"
    });
    assert_refused(&[no_index], "no-index.jsonl line 2:");
    let status = edited("status.jsonl", &|l| {
        l[3] = "{\"index\":3,\"status\":\"maybe\"}"
    });
    assert_refused(&[status], "status.jsonl line 4:");
    let swapped = edited("swapped.jsonl", &|l| l.swap(1, 2));
    assert_refused(&[swapped], "swapped.jsonl line 3:");
    let repeated = edited("repeated.jsonl", &|l| l.insert(2, l[1]));
    assert_refused(&[repeated], "repeated.jsonl line 3:");

    // A raw output file is not jsonl.
    let raw = run(&["run", plugins::UPPER, path_str(&input)], b"");
    let raw = scratch.write("raw.txt", &raw.output.stdout);
    assert_refused(&[raw], "raw.txt line 1:");

    // A real --unordered run: record 0 is slow, so others finish first.
    let slow_first = scratch.write("slow.txt", &join_lines(&slow_first_records()));
    let unordered = jsonl_run(plugins::HOSTILE, &slow_first, &["--unordered", "-j", "2"]);
    let line = first_unordered_line(&unordered).expect("the --unordered run came out of order");
    let unordered = scratch.write("unordered.jsonl", &unordered);
    assert_refused(&[unordered], &format!("unordered.jsonl line {line}:"));

    // Files that cannot be read.
    assert_refused(&[scratch.path("absent.jsonl")], "absent.jsonl");
    assert_refused(&[scratch.dir().to_path_buf()], "directory");
}

/// `busy:400` (400 ms of work) then 2,000 quick records.
fn slow_first_records() -> Vec<String> {
    let mut records = vec!["busy:400".to_string()];
    records.extend(numbered_lines(2000));
    records
}

#[test]
fn guest_text_in_an_error_is_escaped_and_the_output_may_not_be_an_input() {
    let scratch = Scratch::new();
    let evil = scratch.write(
        "evil.jsonl",
        b"{\"index\":0,\"status\":\"error\",\"kind\":\"\\u001b[2J\\u202e\",\"message\":\"\"}\n",
    );
    let refused = merge(&[evil], &[]);
    assert_eq!(refused.code(), Some(2));
    let stderr = refused.stderr();
    assert!(stderr.contains("evil.jsonl line 1:"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\u{202e}'),
        "{stderr:?}"
    );

    let input = scratch.write("input.txt", &join_lines(&numbered_lines(3)));
    let part = scratch.write("part.jsonl", &jsonl_run(plugins::UPPER, &input, &[]));
    let before = std::fs::read(&part).unwrap();
    let refused = merge(std::slice::from_ref(&part), &["-o", path_str(&part)]);
    assert_eq!(refused.code(), Some(2));
    assert_eq!(std::fs::read(&part).unwrap(), before, "the input is intact");

    let out = scratch.path("out.jsonl");
    let written = merge(&[part], &["-o", path_str(&out)]);
    assert_eq!(written.code(), Some(0), "{}", written.stderr());
    assert!(written.output.stdout.is_empty());
    assert_eq!(std::fs::read(&out).unwrap(), before);
}

/// The `sandmap: record N: ...` lines of a run's stderr.
fn record_lines(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|line| line.starts_with("sandmap: record "))
        .map(str::to_string)
        .collect()
}

#[test]
fn raw_format_prints_what_run_prints() {
    let scratch = Scratch::new();
    // Text, a guest error, bytes that are not UTF-8 (output_base64), an
    // error message with escape codes, an empty output, a trap (stack
    // overflow).
    let records: &[&[u8]] = &[
        b"hello",
        b"err",
        b"\xff\xfe",
        b"ansi",
        b"",
        b"recurse",
        b"bye",
    ];
    let input = scratch.write("input.txt", &records.join(&b'\n'));
    let raw = run(&["run", plugins::HOSTILE, path_str(&input)], b"");
    assert_eq!(raw.code(), Some(1));
    assert_eq!(
        record_lines(&raw.output.stderr).len(),
        3,
        "{}",
        raw.stderr()
    );

    let parts = shard_files(&scratch, plugins::HOSTILE, &input, 2, &[]);
    let merged = merge(&parts, &["--format", "raw"]);
    assert_eq!(merged.code(), Some(1));
    assert_eq!(merged.output.stdout, raw.output.stdout);
    assert_eq!(
        record_lines(&merged.output.stderr),
        record_lines(&raw.output.stderr)
    );

    // NUL-delimited records and outputs.
    let input = scratch.write("nul.bin", b"a\0\0b\nc\0");
    let raw = run(&["run", plugins::UPPER, path_str(&input), "-0"], b"");
    assert_eq!(raw.code(), Some(1));
    let dir = Scratch::new();
    let parts = shard_files(&dir, plugins::UPPER, &input, 2, &["-0"]);
    let merged = merge(&parts, &["--format", "raw", "-0"]);
    assert_eq!(merged.code(), Some(1));
    assert_eq!(merged.output.stdout, b"A\0B\nC\0");
    assert_eq!(merged.output.stdout, raw.output.stdout);
}

/// Writes 3 shard files of `total` records (every millionth one failed)
/// the way `run --shard K/3 --format jsonl` would; their paths.
fn big_shards(scratch: &Scratch, total: u64) -> Vec<PathBuf> {
    let paths: Vec<PathBuf> = (0..3)
        .map(|k| scratch.path(&format!("big-{k}.jsonl")))
        .collect();
    let mut files: Vec<_> = paths
        .iter()
        .map(|p| BufWriter::with_capacity(1 << 20, std::fs::File::create(p).unwrap()))
        .collect();
    for index in 0..total {
        let file = &mut files[(index % 3) as usize];
        big_line(file, index).unwrap();
    }
    for mut file in files {
        file.flush().unwrap();
    }
    paths
}

fn big_line(out: &mut impl Write, index: u64) -> std::io::Result<()> {
    if index % 1_000_000 == 999_999 {
        writeln!(
            out,
            "{{\"index\":{index},\"status\":\"error\",\"kind\":\"fuel\",\"message\":\"fuel exhausted\"}}"
        )
    } else {
        writeln!(
            out,
            "{{\"index\":{index},\"status\":\"ok\",\"output\":\"r{index}\"}}"
        )
    }
}

/// A finished merge: exit code, peak RSS of its own memory in KiB,
/// stderr, time taken.
struct Measured {
    code: i32,
    peak_kib: i64,
    stderr: String,
    elapsed: Duration,
}

/// Runs `sandmap merge FILES`, hands its stdout to `check` on another
/// thread, and measures its peak RSS by sampling `VmHWM` until it exits
/// (not reaped yet, so the pid stays its own); then reaps it with `wait4`.
/// `wait4`'s `ru_maxrss` alone would not do: a child starts with the RSS
/// of the test process that spawned it (tens of MiB while other tests
/// run), not its own.
fn measure_merge(files: &[PathBuf], check: impl FnOnce(ChildStdout) + Send + 'static) -> Measured {
    let started = Instant::now();
    let mut child = sandmap()
        .arg("merge")
        .args(files)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sandmap");
    let stdout = child.stdout.take().unwrap();
    let checker = std::thread::spawn(move || check(stdout));
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let pid = child.id();
    let mut peak_kib = 0;
    while let Some(kib) = own_peak_rss_kib(pid) {
        peak_kib = peak_kib.max(kib);
        if started.elapsed() > Duration::from_secs(120) {
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("sandmap merge ran past 2 minutes and was killed");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let (code, _inherited_max_rss) = wait_with_rusage(pid);
    let elapsed = started.elapsed();
    std::mem::forget(child);
    if let Err(panic) = checker.join() {
        std::panic::resume_unwind(panic);
    }
    Measured {
        code,
        peak_kib,
        stderr: reader.join().unwrap(),
        elapsed,
    }
}

/// Asserts that `merged` holds every line of [`big_shards`], in order.
fn check_big_merge(merged: ChildStdout, total: u64) {
    let mut reader = std::io::BufReader::with_capacity(1 << 20, merged);
    let (mut line, mut want) = (Vec::new(), Vec::new());
    for index in 0..total {
        line.clear();
        want.clear();
        reader.read_until(b'\n', &mut line).unwrap();
        big_line(&mut want, index).unwrap();
        assert!(
            line == want,
            "line {}: {:?}",
            index + 1,
            String::from_utf8_lossy(&line)
        );
    }
    assert_eq!(
        reader.read_until(b'\n', &mut line).unwrap(),
        0,
        "nothing more"
    );
}

#[test]
fn ten_million_lines_merge_in_bounded_memory() {
    const TOTAL: u64 = 10_000_000;
    let scratch = Scratch::new();
    let parts = big_shards(&scratch, TOTAL);
    let measured = measure_merge(&parts, |merged| check_big_merge(merged, TOTAL));
    eprintln!(
        "merged {TOTAL} lines in {:.2?}, peak RSS {} KiB",
        measured.elapsed, measured.peak_kib
    );
    assert_eq!(
        measured.code, 1,
        "every millionth record failed: {}",
        measured.stderr
    );
    assert!(measured.peak_kib > 0, "sampled while it ran");
    assert!(
        measured.peak_kib < 32 * 1024,
        "peak RSS {} KiB",
        measured.peak_kib
    );
}

#[test]
fn the_shards_example_merges_to_one_run() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = Command::new("bash")
        .arg("examples/shards.sh")
        .arg("4")
        .current_dir(&root)
        .env("SANDMAP", env!("CARGO_BIN_EXE_sandmap"))
        .env("SANDMAP_CACHE_DIR", test_cache_dir())
        .output()
        .expect("run examples/shards.sh");
    let stderr = String::from_utf8_lossy(&script.stderr);
    assert_eq!(script.status.code(), Some(0), "{stderr}");

    let wat = root.join("plugins/upper-wat/upper.wat");
    let records = root.join("examples/records.txt");
    let whole = jsonl_run(path_str(&wat), &records, &["--deterministic"]);
    assert_eq!(parse_jsonl(std::str::from_utf8(&whole).unwrap()).len(), 4);
    assert_eq!(script.stdout, whole);
}
