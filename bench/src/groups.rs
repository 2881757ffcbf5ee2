//! The benchmark groups. Each prints its figures and, where it compares,
//! the ratios, measured side by side in the same run.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sandmap::{Order, Pool, PoolBuilder};
use sandmap_test_artifacts as plugins;

use crate::data;
use crate::measure::{ChildStats, median_child, median_time, run_child, sandmap_binary};
use crate::native;

/// Runs the library over `records`; returns the wall time (median of 3).
fn library(builder: PoolBuilder, records: &[Vec<u8>]) -> Duration {
    let pool = builder.build().expect("load plugin");
    median_time(3, || {
        let ok = pool
            .map(records.to_vec())
            .filter(|r| r.as_ref().is_ok_and(|r| r.outcome.is_ok()))
            .count();
        assert_eq!(ok, records.len());
    })
}

fn jobs(plugin: &str, jobs: usize) -> PoolBuilder {
    Pool::builder(plugin).jobs(jobs)
}

fn cli(args: &[&str], input: &Path) -> ChildStats {
    median_child(3, || {
        run_child(Command::new(sandmap_binary()).args(args).arg(input), None)
    })
}

/// Python's Pool.map over `input`: seconds, or None without python3.
fn python(workload: &str, input: &Path, processes: usize) -> Option<f64> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("pool_map.py");
    let output = Command::new("python3")
        .arg(script)
        .args([workload, input.to_str()?, &processes.to_string()])
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    text.split_whitespace().nth(1)?.parse().ok()
}

fn row(label: &str, records: usize, seconds: f64, base: Option<f64>) {
    let rate = records as f64 / seconds;
    let ratio = base.map_or(String::new(), |b| {
        format!("  {:.2}x native time", seconds / b)
    });
    println!(
        "  {label:<34} {:>11.0} records/s {:>9.3} µs/record{ratio}",
        rate,
        seconds * 1e6 / records as f64
    );
}

/// Workloads (a) trivial, (b) CPU-heavy, (c) isolate: native rayon,
/// library, CLI and Python's Pool.map, with -j 2.
pub fn throughput(scratch: &Path) {
    println!("\n## (a) trivial: uppercase 1,000,000 records of 100 bytes, 2 threads");
    let n = 1_000_000;
    let records: Vec<Vec<u8>> = data::records(n, 100).collect();
    let input = data::records_file(scratch, n, 100);
    let native_s = median_time(3, || {
        native::map(&records, 2, native::upper);
    })
    .as_secs_f64();
    row("native Rust (rayon)", n, native_s, Some(native_s));
    let lib = library(jobs(plugins::UPPER, 2), &records).as_secs_f64();
    row("sandmap library", n, lib, Some(native_s));
    let cli_s = cli(
        &["run", plugins::UPPER, "-j", "2", "-o", "/dev/null"],
        &input,
    );
    row(
        "sandmap CLI (file to /dev/null)",
        n,
        cli_s.wall.as_secs_f64(),
        Some(native_s),
    );
    match python("upper", &input, 2) {
        Some(py) => {
            row("Python Pool(2).map", n, py, Some(native_s));
            println!(
                "  CLI vs Python: {:.2}x the records/s (goal ≥ 2x); CLI {:.2} M records/s (goal ≥ 2)",
                py / cli_s.wall.as_secs_f64(),
                n as f64 / cli_s.wall.as_secs_f64() / 1e6
            );
        }
        None => println!("  Python Pool.map: python3 not available"),
    }

    println!("\n## (b) CPU-heavy: 20,000-round hash per record, 2 threads");
    let n = 20_000;
    let records: Vec<Vec<u8>> = data::records(n, 100).collect();
    let input = data::records_file(scratch, n, 100);
    let native_s = median_time(3, || {
        native::map(&records, 2, native::hash);
    })
    .as_secs_f64();
    row("native Rust (rayon)", n, native_s, Some(native_s));
    let lib = library(jobs(plugins::HASH, 2), &records).as_secs_f64();
    row("sandmap library (epochs on)", n, lib, Some(native_s));
    let cli_s = cli(
        &["run", plugins::HASH, "-j", "2", "-o", "/dev/null"],
        &input,
    );
    row("sandmap CLI", n, cli_s.wall.as_secs_f64(), Some(native_s));
    let few = 1_000;
    let small = data::records_file(scratch, few, 100);
    match python("hash", &small, 2) {
        Some(py) => row(
            "Python Pool(2).map (1,000 records)",
            few,
            py,
            Some(native_s * few as f64 / n as f64),
        ),
        None => println!("  Python Pool.map: python3 not available"),
    }

    println!(
        "\n## (c) every record from a fresh instance's state (--isolate) on (a), 2 threads, \
         200,000 records"
    );
    let n = 200_000;
    let records: Vec<Vec<u8>> = data::records(n, 100).collect();
    let input = data::records_file(scratch, n, 100);
    let reuse = library(jobs(plugins::UPPER, 2), &records).as_secs_f64();
    let isolate = library(jobs(plugins::UPPER, 2).isolate(true), &records).as_secs_f64();
    row("library, reuse", n, reuse, None);
    row("library, --isolate", n, isolate, None);
    let cli_reuse = cli(
        &["run", plugins::UPPER, "-j", "2", "-o", "/dev/null"],
        &input,
    );
    let cli_isolate = cli(
        &[
            "run",
            plugins::UPPER,
            "-j",
            "2",
            "--isolate",
            "-o",
            "/dev/null",
        ],
        &input,
    );
    row("CLI, reuse", n, cli_reuse.wall.as_secs_f64(), None);
    row("CLI, --isolate", n, cli_isolate.wall.as_secs_f64(), None);
    let extra = |a: f64, b: f64| (b - a) * 1e6 / n as f64;
    println!(
        "  --isolate costs {:.2} µs/record more (library), {:.2} (CLI), wall at 2 threads; \
         {:.2} µs of worker time (goal ≤ 10)",
        extra(reuse, isolate),
        extra(cli_reuse.wall.as_secs_f64(), cli_isolate.wall.as_secs_f64()),
        2.0 * extra(reuse, isolate)
    );
}

/// Epoch and fuel overhead on (b), and 1 vs 2 threads.
pub fn limits() {
    println!("\n## limits and scaling on (b): 20,000-round hash, 10,000 records");
    let n = 10_000;
    let records: Vec<Vec<u8>> = data::records(n, 100).collect();
    for threads in [1usize, 2] {
        let native_s = median_time(3, || {
            native::map(&records, threads, native::hash);
        })
        .as_secs_f64();
        println!("  {threads} thread(s):");
        row("native Rust (rayon)", n, native_s, Some(native_s));
        let epochs = library(jobs(plugins::HASH, threads), &records).as_secs_f64();
        row("sandmap, epochs (always on)", n, epochs, Some(native_s));
        let timeout = jobs(plugins::HASH, threads).timeout(Duration::from_secs(60));
        let ticking = library(timeout, &records).as_secs_f64();
        row(
            "sandmap, --timeout (1 ms ticker)",
            n,
            ticking,
            Some(native_s),
        );
        let fuel = jobs(plugins::HASH, threads).fuel(u64::MAX / 2);
        let fueled = library(fuel, &records).as_secs_f64();
        row("sandmap, --fuel", n, fueled, Some(native_s));
        if threads == 2 {
            let one = library(jobs(plugins::HASH, 1), &records).as_secs_f64();
            println!(
                "  scaling: 2 threads do the work {:.2}x faster than 1 (goal ≥ 1.9)",
                one / epochs
            );
        }
    }
}

/// Time from cancel to every worker stopped; CLI exit after SIGINT.
pub fn interrupt(scratch: &Path) {
    println!("\n## interrupt latency, every worker in an infinite loop");
    let pool = jobs(plugins::HOSTILE, 2)
        .order(Order::Completion)
        .build()
        .expect("load hostile");
    let mut latencies: Vec<Duration> = (0..7)
        .map(|_| {
            let results = pool.map(vec![b"spin".to_vec(), b"spin".to_vec()]);
            let cancel = results.cancel_token();
            std::thread::sleep(Duration::from_millis(200));
            let at = Instant::now();
            cancel.cancel();
            assert_eq!(results.count(), 2);
            at.elapsed()
        })
        .collect();
    latencies.sort();
    println!(
        "  library: cancel to every worker stopped, median {:.3} ms (min {:.3}, max {:.3}; goal ≤ 2 ms)",
        ms(latencies[3]),
        ms(latencies[0]),
        ms(latencies[6])
    );

    let input = scratch.join("spins.txt");
    std::fs::write(&input, "spin\n".repeat(4)).unwrap();
    let mut exits: Vec<Duration> = (0..5)
        .map(|_| {
            let mut child = Command::new(sandmap_binary())
                .args(["run", plugins::HOSTILE, "-j", "2", "-q", "-o", "/dev/null"])
                .arg(&input)
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(500));
            let at = Instant::now();
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
            child.wait().unwrap();
            at.elapsed()
        })
        .collect();
    exits.sort();
    println!(
        "  CLI: SIGINT to process exit, median {:.1} ms (goal ≤ 100 ms)",
        ms(exits[2])
    );
}

/// Peak RSS streaming 10,000,000 records through the CLI.
pub fn rss(scratch: &Path) {
    println!("\n## peak RSS, CLI, upper mapper, 2 threads");
    let one = scratch.join("one.txt");
    std::fs::write(&one, "x\n").unwrap();
    let base = run_child(
        Command::new(sandmap_binary())
            .args(["run", plugins::UPPER, "-j", "2", "-o", "/dev/null"])
            .arg(&one),
        None,
    );
    let n = 10_000_000;
    let input = data::records_file(scratch, n, 100);
    let big = run_child(
        Command::new(sandmap_binary()).args(["run", plugins::UPPER, "-j", "2", "-o", "/dev/null"]),
        Some(&input),
    );
    let _ = std::fs::remove_file(&input);
    println!(
        "  1 record: {:.1} MiB; 10,000,000 records (1 GB, from a pipe): {:.1} MiB, {:.0} records/s; \
         {:.1} MiB above the 1-record run (goal ≤ 64)",
        kib(base.max_rss_kib),
        kib(big.max_rss_kib),
        n as f64 / big.wall.as_secs_f64(),
        kib(big.max_rss_kib - base.max_rss_kib)
    );
}

/// Start to first result, cold and warm compile cache, for each example
/// plugin that has been built.
pub fn cache(scratch: &Path) {
    println!("\n## compile cache: start to first result (one record)");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
    for language in ["python", "js", "go", "rust", "c"] {
        let plugin = examples.join(format!("words-{language}/words.wasm"));
        if !plugin.exists() {
            println!("  words-{language}: not built (plugins/polyglot/check.sh builds it)");
            continue;
        }
        let dir = scratch.join(format!("cache-{language}"));
        let cold = first_result(&plugin, &dir);
        let mut warm: Vec<Duration> = (0..5).map(|_| first_result(&plugin, &dir)).collect();
        warm.sort();
        println!(
            "  words-{language:<7} {:>6.1} MB  cold {:>8.1} ms   warm {:>6.1} ms (median of 5)",
            std::fs::metadata(&plugin).map_or(0.0, |m| m.len() as f64 / 1e6),
            ms(cold),
            ms(warm[2])
        );
    }
}

/// Spawns the CLI on one record; time until its first result line.
fn first_result(plugin: &Path, cache_dir: &Path) -> Duration {
    let started = Instant::now();
    let mut child = Command::new(sandmap_binary())
        .arg("run")
        .arg(plugin)
        .arg("--cache-dir")
        .arg(cache_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello world\n")
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let elapsed = started.elapsed();
    child.wait().unwrap();
    assert!(line.contains("HELLO"), "unexpected first result {line:?}");
    elapsed
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn kib(k: i64) -> f64 {
    k as f64 / 1024.0
}

/// sandmap's Python package against `multiprocessing.Pool(2).map`, by
/// `bench/python_map.py`, run by the interpreter in `SANDMAP_BENCH_PYTHON`
/// (default `target/python-venv/bin/python`) where the package is
/// installed (a release wheel, for figures that mean something).
pub fn python_package(_scratch: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = std::env::var_os("SANDMAP_BENCH_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target/python-venv/bin/python"));
    println!("\n## Python: sandmap.Pool.map against multiprocessing.Pool(2).map");
    let installed = Command::new(&python)
        .args(["-c", "import sandmap"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        println!(
            "  {} has no sandmap package: run python/test.sh, then install a release wheel \
             (see docs/performance.md)",
            python.display()
        );
        return;
    }
    let status = Command::new(&python)
        .arg(root.join("bench/python_map.py"))
        .arg("--sandmap")
        .arg(sandmap_binary())
        .status();
    if !status.is_ok_and(|s| s.success()) {
        println!("  bench/python_map.py failed");
    }
}
