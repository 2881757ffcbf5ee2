//! sandmap's benchmark harness: runs each comparison side by side in one
//! invocation and prints figures and ratios (machines here are shared and
//! noisy: compare within a run, not across runs).
//!
//! ```sh
//! cargo build --release --workspace && target/release/sandmap-bench [GROUP...]
//! ```
//! Groups: `throughput` (workloads a, b, c against native Rust and
//! Python's Pool.map), `features` (journal, stats, deterministic mode,
//! isolation), `commands` (WASI commands), `limits` (epoch and fuel
//! overhead, scaling), `interrupt`, `rss` (10,000,000 records), `cache`,
//! `memory`, `python` (sandmap's Python package against
//! multiprocessing), and `baseline` (an earlier sandmap binary, from
//! `SANDMAP_BENCH_BASELINE`). Default: all.

mod data;
mod features;
mod groups;
mod measure;
mod native;

use std::path::Path;
use std::process::Command;

use sandmap_test_artifacts as plugins;

use measure::{ChildStats, run_child, sandmap_binary};

fn main() {
    let raw: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if raw.first().is_some_and(|a| a == measure::LAUNCHER_FLAG) {
        measure::launcher_main(&raw[1..]);
        return;
    }
    let groups: Vec<String> = std::env::args().skip(1).collect();
    let default = [
        "throughput",
        "features",
        "commands",
        "limits",
        "interrupt",
        "rss",
        "cache",
        "memory",
        "python",
        "baseline",
    ];
    let wants = |name: &str| {
        groups.iter().any(|g| g == name) || (groups.is_empty() && default.contains(&name))
    };
    let scratch = std::env::temp_dir().join(format!("sandmap-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");

    println!("sandmap benchmarks ({} cores available)", cores());
    if wants("throughput") {
        groups::throughput(&scratch);
    }
    if wants("features") {
        features::features(&scratch);
    }
    if wants("commands") {
        features::commands(&scratch);
    }
    if wants("baseline") {
        features::baseline(&scratch);
    }
    if wants("python") {
        groups::python_package(&scratch);
    }
    if wants("limits") {
        groups::limits();
    }
    if wants("interrupt") {
        groups::interrupt(&scratch);
    }
    if wants("rss") {
        groups::rss(&scratch);
    }
    if wants("cache") {
        groups::cache(&scratch);
    }
    if wants("memory") {
        memory(&scratch);
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Peak memory against a memory bomb and while streaming a large
/// input through a command.
fn memory(scratch: &Path) {
    println!("\n## memory: peak RSS");
    let bombs = scratch.join("bombs.txt");
    std::fs::write(&bombs, "bomb\n".repeat(20)).unwrap();
    let stats = run_child(
        Command::new(sandmap_binary())
            .args([
                "run",
                plugins::HOSTILE,
                "--max-memory",
                "32MiB",
                "-j",
                "2",
                "-o",
                "/dev/null",
            ])
            .arg(&bombs),
        None,
    );
    println!(
        "  memory bomb x20, --max-memory 32MiB, -j 2: peak RSS {:.1} MiB (goal < 300 MB), exit {}",
        stats.max_rss_kib as f64 / 1024.0,
        stats.exit
    );

    let input = data::records_file(scratch, 2_000_000, 50);
    let stats = run_child(
        Command::new(sandmap_binary()).args(["run", plugins::ECHO, "-o", "/dev/null"]),
        Some(&input),
    );
    report_rate(
        "echo command, 2,000,000 x 50 B from a pipe",
        2_000_000,
        stats,
    );
}

fn report_rate(label: &str, records: u64, stats: ChildStats) {
    let rate = records as f64 / stats.wall.as_secs_f64();
    println!(
        "  {label}: {:.3}s, {:.0} records/s, {:.2} µs/record, peak RSS {:.1} MiB, exit {}",
        stats.wall.as_secs_f64(),
        rate,
        stats.wall.as_secs_f64() * 1e6 / records as f64,
        stats.max_rss_kib as f64 / 1024.0,
        stats.exit
    );
}
