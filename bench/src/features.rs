//! What the features after the core cost, side by side in one run: a
//! journal, per-record stats, deterministic mode, a fresh instance per
//! record; WASI commands; and the same workloads through an earlier
//! sandmap binary, for before/after figures.

use std::path::Path;
use std::process::Command;

use sandmap_test_artifacts as plugins;

use crate::data;
use crate::measure::{ChildStats, median_child, run_child, sandmap_binary};

/// Runs the CLI at `binary` with `args` over `input` (median of 3).
fn cli_with(binary: &Path, args: &[&str], input: &Path) -> ChildStats {
    median_child(3, || {
        run_child(Command::new(binary).args(args).arg(input), None)
    })
}

fn cli(args: &[&str], input: &Path) -> ChildStats {
    cli_with(&sandmap_binary(), args, input)
}

/// One line: records/s, wall and CPU µs per record, and the ratio of wall
/// time to `base`.
fn line(label: &str, records: usize, stats: ChildStats, base: Option<ChildStats>) {
    let n = records as f64;
    let ratio = base.map_or(String::new(), |b| {
        format!(
            "  {:.3}x the time of the first line",
            stats.wall.as_secs_f64() / b.wall.as_secs_f64()
        )
    });
    println!(
        "  {label:<40} {:>10.0} records/s {:>7.2} µs/record wall {:>7.2} µs CPU{ratio}",
        n / stats.wall.as_secs_f64(),
        stats.wall.as_secs_f64() * 1e6 / n,
        stats.cpu.as_secs_f64() * 1e6 / n
    );
    assert!(stats.exit <= 1, "{label}: sandmap failed");
}

/// How long writing `path`'s dirty pages to disk takes.
fn sync_time(path: &Path) -> std::time::Duration {
    let started = std::time::Instant::now();
    if let Ok(file) = std::fs::File::open(path) {
        let _ = file.sync_data();
    }
    started.elapsed()
}

/// The journal, stats, deterministic mode and isolation on (a) and (b).
pub fn features(scratch: &Path) {
    let out = scratch.join("out.txt");
    let journal = scratch.join("journal");
    let out = out.to_str().unwrap();
    let journal = journal.to_str().unwrap();
    for (name, plugin, n) in [
        ("(a) upper", plugins::UPPER, 1_000_000),
        ("(b) hash", plugins::HASH, 20_000),
    ] {
        println!("\n## {name}: {n} records of 100 bytes, -j 2, CLI, output to a file");
        let input = data::records_file(scratch, n, 100);
        let base = cli(&["run", plugin, "-j", "2", "-o", out], &input);
        line("plain", n, base, None);
        // A journal promises an output on disk at every stop, so its run
        // ends with the output synced; the same plain run, then its output
        // synced, is what it is compared with too.
        let durable = ChildStats {
            wall: base.wall + sync_time(Path::new(out)),
            ..base
        };
        line("plain, then its output synced", n, durable, Some(base));
        let journaled = cli(
            &["run", plugin, "-j", "2", "-o", out, "--journal", journal],
            &input,
        );
        line("--journal (goal: ≤ 1.10x on a)", n, journaled, Some(base));
        println!(
            "  --journal against the synced plain run: {:.3}x",
            journaled.wall.as_secs_f64() / durable.wall.as_secs_f64()
        );
        let _ = std::fs::remove_file(journal);
        let stats = cli(&["run", plugin, "-j", "2", "-o", out, "--stats"], &input);
        line("--stats (goal: ≤ 1.05x on a)", n, stats, Some(base));
        let jsonl = cli(
            &["run", plugin, "-j", "2", "-o", out, "--format", "jsonl"],
            &input,
        );
        line("--format jsonl", n, jsonl, Some(base));
        let jsonl_stats = cli(
            &[
                "run", plugin, "-j", "2", "-o", out, "--format", "jsonl", "--stats",
            ],
            &input,
        );
        line("--format jsonl --stats", n, jsonl_stats, Some(jsonl));
        if n > 100_000 {
            let isolate = cli(&["run", plugin, "-j", "2", "-o", out, "--isolate"], &input);
            line("--isolate", n, isolate, Some(base));
            let deterministic = cli(
                &["run", plugin, "-j", "2", "-o", out, "--deterministic"],
                &input,
            );
            line("--deterministic", n, deterministic, Some(base));
            let extra = |s: ChildStats| {
                (
                    (s.wall.as_secs_f64() - base.wall.as_secs_f64()) * 1e6 / n as f64,
                    (s.cpu.as_secs_f64() - base.cpu.as_secs_f64()) * 1e6 / n as f64,
                )
            };
            let (iw, ic) = extra(isolate);
            let (dw, dc) = extra(deterministic);
            println!(
                "  a fresh instance costs {iw:.2} µs/record of wall time ({:.2} µs of worker time at 2 \
                 workers; goal ≤ 10) and {ic:.2} µs of CPU; --deterministic {dw:.2} µs wall, {dc:.2} µs CPU",
                iw * 2.0
            );
        }
    }
    let _ = std::fs::remove_file(out);
}

/// WASI commands: the echo command over 1,000,000 records of 50 bytes.
pub fn commands(scratch: &Path) {
    println!("\n## WASI commands: echo, 1,000,000 records of 50 bytes, -j 2, file to /dev/null");
    let n = 1_000_000;
    let input = data::records_file(scratch, n, 50);
    // The first line makes a fresh instance per record (`--isolate`); the
    // others keep one per worker and put it back after each record.
    let fresh = cli(
        &[
            "run",
            plugins::ECHO,
            "-j",
            "2",
            "-o",
            "/dev/null",
            "--isolate",
        ],
        &input,
    );
    line("echo (Rust), a fresh instance per record", n, fresh, None);
    for (label, plugin) in [
        ("echo (Rust, wasip1 core module)", plugins::ECHO),
        ("echo (WebAssembly text)", plugins::ECHO_WAT),
    ] {
        let stats = cli(&["run", plugin, "-j", "2", "-o", "/dev/null"], &input);
        line(label, n, stats, Some(fresh));
    }
    println!("  goal: ≥ 300,000 records/s");
}

/// (a) and (b) through an earlier sandmap (`SANDMAP_BENCH_BASELINE`, a
/// path to its binary) and this one, alternately.
pub fn baseline(scratch: &Path) {
    let Some(old) = std::env::var_os("SANDMAP_BENCH_BASELINE") else {
        println!(
            "\n## baseline: set SANDMAP_BENCH_BASELINE to an earlier sandmap binary to compare"
        );
        return;
    };
    let old = std::path::PathBuf::from(old);
    println!(
        "\n## baseline: {} against this build, -j 2, to /dev/null",
        old.display()
    );
    for (name, plugin, n, size, isolate) in [
        ("(a) upper", plugins::UPPER, 1_000_000, 100, false),
        ("(b) hash", plugins::HASH, 20_000, 100, false),
        ("echo command", plugins::ECHO, 1_000_000, 50, false),
        ("(c) upper --isolate", plugins::UPPER, 200_000, 100, true),
    ] {
        let input = data::records_file(scratch, n, size);
        let mut args = vec!["run", plugin, "-j", "2", "-o", "/dev/null"];
        if isolate {
            args.push("--isolate");
        }
        let before = cli_with(&old, &args, &input);
        let after = cli(&args, &input);
        line(&format!("{name}, before"), n, before, None);
        line(&format!("{name}, after"), n, after, Some(before));
    }
}
