//! Every bound holds against a hostile plugin, a hostile input and a
//! hostile environment, with no flag set (SPEC §5). Each test names the
//! promise it attacks; the hostile plugins are built from `plugins/`.

mod common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::*;

const MIB: i64 = 1024;

/// `lines` joined into a file in `scratch`.
fn input(
    scratch: &Scratch,
    name: &str,
    lines: impl IntoIterator<Item = String>,
) -> std::path::PathBuf {
    let lines: Vec<String> = lines.into_iter().collect();
    scratch.write(name, &join_lines(&lines))
}

// --- Memory a plugin can make the host spend -------------------------------

/// A mapper returning 48 MiB error strings: each error is cut to 64 KiB and
/// marked, and sandmap's memory stays far below what the errors add up to.
#[test]
fn huge_error_text_is_cut_and_bounded() {
    let scratch = Scratch::new();
    let mut lines: Vec<String> = (0..20_000).map(|i| format!("fast {i}")).collect();
    lines.extend(std::iter::repeat_n("bigerr:48".to_string(), 60));
    let input = input(&scratch, "in.txt", lines);
    let out = scratch.path("out.jsonl");
    let run = measure(
        &["run", plugins::HOSTILE, "--format", "jsonl", "-j", "2"],
        &input,
        Some(&out),
        Duration::from_secs(300),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let text = std::fs::read_to_string(&out).unwrap();
    let values = parse_jsonl(&text);
    assert_eq!(values.len(), 20_060);
    for value in &values[20_000..] {
        assert_eq!(value["kind"], "guest");
        let message = value["message"].as_str().unwrap();
        assert!(
            message.len() <= sandmap::MAX_ERROR_TEXT + 100,
            "{} bytes",
            message.len()
        );
        assert!(message.ends_with(&format!("[cut: {} bytes in all]", 48 << 20)));
    }
    // 60 × 48 MiB of errors were returned; the guest itself holds ~100 MiB.
    assert!(
        run.max_rss_kib < 600 * MIB,
        "peak RSS {} MiB",
        run.max_rss_kib / 1024
    );
    eprintln!("error-string bomb: peak RSS {} MiB", run.max_rss_kib / 1024);
}

/// A command writing stdout for ever, with only a timeout set: the
/// default output cap (64 MiB) stops it, checked on each write.
#[test]
fn a_stdout_flood_meets_the_default_output_cap() {
    let scratch = Scratch::new();
    let input = input(
        &scratch,
        "in.txt",
        ["flood-forever".to_string(), "after".to_string()],
    );
    let out = scratch.path("out.jsonl");
    let run = measure(
        &[
            "run",
            plugins::HOSTILE_COMMAND,
            "--timeout",
            "4s",
            "--format",
            "jsonl",
            "-j",
            "1",
        ],
        &input,
        Some(&out),
        Duration::from_secs(60),
    );
    let values = parse_jsonl(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(
        kinds(&values),
        [(0, "output".to_string())],
        "{}",
        run.stderr
    );
    assert_eq!(values[1]["output"], "after");
    assert!(
        run.max_rss_kib < 300 * MIB,
        "peak RSS {} MiB",
        run.max_rss_kib / 1024
    );
    eprintln!("stdout flood: peak RSS {} MiB", run.max_rss_kib / 1024);
    // The same in WebAssembly text, with no limit at all.
    let run = measure(
        &["run", plugins::STDOUT_FLOOD_WAT, "--format", "jsonl"],
        &scratch.write("one.txt", b"x\n"),
        Some(&out),
        Duration::from_secs(60),
    );
    let values = parse_jsonl(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(
        kinds(&values),
        [(0, "output".to_string())],
        "{}",
        run.stderr
    );
    assert!(
        run.max_rss_kib < 300 * MIB,
        "peak RSS {} MiB",
        run.max_rss_kib / 1024
    );
}

/// Fast answers first, so batches grow large, then large results while the
/// reader is slow: results in flight are bounded in bytes, not records.
#[test]
#[allow(
    clippy::zombie_processes,
    reason = "reaped by wait4, which gives the peak RSS"
)]
fn results_in_flight_are_bounded_in_bytes() {
    let scratch = Scratch::new();
    let mut lines: Vec<String> = (0..50_000).map(|i| format!("fast {i}")).collect();
    lines.extend(std::iter::repeat_n("bigout:8".to_string(), 400));
    let input = input(&scratch, "in.txt", lines);
    let mut child = sandmap()
        .args(["run", plugins::HOSTILE, "-j", "2"])
        .stdin(std::fs::File::open(&input).unwrap())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // A slow reader for a while: 10 ms per MiB (3.2 GB of results in all).
    let mut stdout = child.stdout.take().unwrap();
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = std::io::Read::read(&mut stdout, &mut buffer).unwrap();
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > 16 << 20 && total < 400 << 20 {
            std::thread::sleep(Duration::from_micros(n as u64 * 10 / 1024));
        }
    }
    let (code, max_rss_kib) = wait_with_rusage(child.id());
    std::mem::forget(child);
    assert_eq!(code, 0);
    assert!(total > 400 * (8 << 20));
    // Budget 64 MiB + one 8 MiB output per worker + the guests' own copies.
    assert!(
        max_rss_kib < 400 * MIB,
        "peak RSS {} MiB",
        max_rss_kib / 1024
    );
}

/// A mapper's result larger than the cap is refused before it is copied
/// out, and results larger than wasmtime's 128 MiB host-call budget are
/// measured against the cap, not failed as traps.
#[test]
fn a_result_is_checked_before_it_is_copied() {
    let result = run(
        &[
            "run",
            plugins::HOSTILE,
            "--format",
            "jsonl",
            "--max-output",
            "1KiB",
        ],
        b"bigout:100\nsmall\n",
    );
    let values = result.jsonl();
    assert_eq!(kinds(&values), [(0, "output".to_string())]);
    assert!(
        values[0]["message"]
            .as_str()
            .unwrap()
            .contains("104857600 bytes")
    );
    assert_eq!(values[1]["output"], "small");
    let big = run(
        &[
            "run",
            plugins::HOSTILE,
            "--format",
            "jsonl",
            "--max-output",
            "200MiB",
            "-o",
            "/dev/null",
        ],
        b"bigout:150\n",
    );
    assert_eq!(big.code(), Some(0), "{}", big.stderr());
    let default = run(
        &["run", plugins::HOSTILE, "--format", "jsonl"],
        b"bigout:150\n",
    );
    assert_eq!(kinds(&default.jsonl()), [(0, "output".to_string())]);
}

/// `--max-memory` caps an instance as a whole: two memories of one
/// module, six core instances of one component, a memory and a table.
#[test]
fn the_memory_cap_is_for_the_whole_instance() {
    for (plugin, cap) in [
        (plugins::TWO_MEMORIES_WAT, "64MiB"),
        (plugins::MULTI_INSTANCE_WAT, "32MiB"),
        (plugins::MEMORY_AND_TABLE_WAT, "64MiB"),
    ] {
        let capped = run(
            &["run", plugin, "--format", "jsonl", "--max-memory", cap],
            b"x\n",
        );
        assert_eq!(
            kinds(&capped.jsonl()),
            [(0, "memory".to_string())],
            "{plugin}: {}",
            capped.stderr()
        );
        let roomy = run(&["run", plugin, "--format", "jsonl"], b"x\n");
        assert_eq!(roomy.code(), Some(0), "{plugin}: {}", roomy.stderr());
    }
}

/// Shared memories (threads) escape the limiter and block a thread: they
/// are switched off, so such a plugin is refused at load.
#[test]
fn shared_memory_is_refused() {
    let result = run(&["run", plugins::SHARED_MEMORY_WAT], b"x\n");
    assert_eq!(result.code(), Some(2));
    assert!(result.stderr().contains("shared"), "{}", result.stderr());
    let inspect = run(&["inspect", plugins::SHARED_MEMORY_WAT], b"");
    assert_eq!(inspect.code(), Some(2), "inspect refuses what run refuses");
}

/// A component with more memories than one instance may have is refused
/// at load, so one instance cannot take every slot of the pool.
#[test]
fn a_component_with_too_many_memories_is_refused() {
    let scratch = Scratch::new();
    let mut wat = String::from("(component\n  (core module $m (memory 1))\n");
    for i in 0..=sandmap::MEMORIES_PER_COMPONENT {
        wat.push_str(&format!("  (core instance $i{i} (instantiate $m))\n"));
    }
    wat.push_str(")\n");
    let plugin = scratch.write("many.wat", wat.as_bytes());
    let result = run(&["run", plugin.to_str().unwrap()], b"x\n");
    assert_eq!(result.code(), Some(2));
    assert!(result.stderr().contains("memories"), "{}", result.stderr());
}

// --- Stopping ----------------------------------------------------------------

/// A start function that blocks in a WASI call: the record's timeout stops
/// it, and the next record runs.
#[test]
fn a_blocking_start_function_meets_the_timeout() {
    let scratch = Scratch::new();
    let input = scratch.write("in.txt", b"a\nb\n");
    let out = scratch.path("out.jsonl");
    let run = measure(
        &[
            "run",
            plugins::BLOCK_AT_START_WAT,
            "--timeout",
            "1s",
            "--format",
            "jsonl",
            "-j",
            "1",
        ],
        &input,
        Some(&out),
        Duration::from_secs(30),
    );
    let values = parse_jsonl(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(
        kinds(&values),
        [(0, "timeout".to_string()), (1, "timeout".to_string())],
        "{}",
        run.stderr
    );
    assert!(run.elapsed < Duration::from_secs(10));
}

/// A start function that blocks, stopped by the first SIGINT.
#[test]
fn a_blocking_start_function_meets_ctrl_c() {
    let mut child = sandmap()
        .args(["run", plugins::BLOCK_AT_START_WAT, "--format", "jsonl"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"a\n").unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "one SIGINT did not stop it"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    let values = parse_jsonl(&String::from_utf8_lossy(&output.stdout));
    assert_eq!(kinds(&values), [(0, "interrupted".to_string())]);
}

/// Start-up counts against the first record's limits: a start function
/// that spins uses that record's fuel and time, not a budget of its own.
#[test]
fn start_up_is_charged_to_the_first_record() {
    let fuel = run(
        &[
            "run",
            plugins::START_SPIN_WAT,
            "--format",
            "jsonl",
            "--fuel",
            "1000000",
        ],
        b"a\n",
    );
    assert_eq!(kinds(&fuel.jsonl()), [(0, "fuel".to_string())]);
    let started = std::time::Instant::now();
    let time = run(
        &[
            "run",
            plugins::START_SPIN_WAT,
            "--format",
            "jsonl",
            "--timeout",
            "500ms",
        ],
        b"a\n",
    );
    assert_eq!(kinds(&time.jsonl()), [(0, "timeout".to_string())]);
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A guest blocked in the kernel on a FIFO of a granted directory: its
/// record times out and the process exits.
#[test]
fn a_record_blocked_on_a_fifo_times_out_and_the_run_ends() {
    let scratch = Scratch::new();
    let dir = scratch.path("granted");
    std::fs::create_dir(&dir).unwrap();
    let fifo = dir.join("fifo");
    let path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    let grant = format!("{}::/d", dir.display());
    for plugin in [plugins::HOSTILE, plugins::HOSTILE_COMMAND] {
        let record = if plugin == plugins::HOSTILE {
            "read:/d/fifo"
        } else {
            "readfile:/d/fifo"
        };
        let input = scratch.write("in.txt", format!("{record}\nafter\n").as_bytes());
        let out = scratch.path("out.jsonl");
        let run = measure(
            &[
                "run",
                plugin,
                "--dir",
                &grant,
                "--timeout",
                "1s",
                "--format",
                "jsonl",
                "-j",
                "1",
            ],
            &input,
            Some(&out),
            Duration::from_secs(30),
        );
        let values = parse_jsonl(&std::fs::read_to_string(&out).unwrap());
        assert_eq!(
            kinds(&values),
            [(0, "timeout".to_string())],
            "{}",
            run.stderr
        );
        assert!(values[1]["output"].as_str().unwrap().starts_with("after"));
        eprintln!(
            "FIFO-blocked record: the run exited {:?} after it started",
            run.elapsed
        );
        assert!(run.elapsed < Duration::from_secs(10));
    }
}

/// SIGINT while every record gets a fresh store (commands, --isolate):
/// every one is stopped.
#[test]
fn ctrl_c_stops_fresh_instances_too() {
    for args in [
        vec![
            "run",
            plugins::HOSTILE_COMMAND,
            "--format",
            "jsonl",
            "-j",
            "2",
        ],
        vec![
            "run",
            plugins::HOSTILE,
            "--isolate",
            "--format",
            "jsonl",
            "-j",
            "2",
        ],
    ] {
        let mut child = sandmap()
            .args(&args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all("spin\n".repeat(20).as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while child.try_wait().unwrap().is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "{args:?}: one SIGINT did not stop it"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(stdin);
    }
}

// --- Bad options and input ---------------------------------------------------

#[test]
fn option_values_at_their_extremes_are_clear_errors_or_work() {
    let timeout = run(
        &["run", plugins::UPPER, "--timeout", "300000000000y"],
        b"a\n",
    );
    assert_eq!(timeout.code(), Some(2));
    timeout.assert_no_panic();
    let jobs = run(&["run", plugins::UPPER, "-j", "100000"], b"a\n");
    assert_eq!(jobs.code(), Some(2));
    jobs.assert_no_panic();
    let mut long = vec![b'a'; 300_000];
    long.push(b'\n');
    let huge = [
        "--max-record",
        "18446744073709551615",
        "--max-output",
        "18446744073709551615",
        "--max-memory",
        "18446744073709551615",
        "--fuel",
        "18446744073709551615",
    ];
    let mut args = vec!["run", plugins::UPPER];
    args.extend(huge);
    let result = run(&args, &long);
    assert_eq!(result.code(), Some(0), "{}", result.stderr());
    result.assert_no_panic();
    assert_eq!(result.output.stdout.len(), 300_001);
}

#[test]
fn the_longest_record_is_enforced_below_the_read_buffer_too() {
    let mut input = b"short\n".to_vec();
    input.extend(vec![b'x'; 200_000]);
    input.extend(b"\nafter\n");
    let result = run(&["run", plugins::UPPER, "--max-record", "100KiB"], &input);
    assert_eq!(result.code(), Some(2));
    assert_eq!(result.stdout(), "SHORT\n", "results before it are written");
    assert!(
        result
            .stderr()
            .contains("record 1 is longer than 102400 bytes"),
        "{}",
        result.stderr()
    );
}

#[test]
fn the_output_may_not_be_the_input_or_the_plugin() {
    let scratch = Scratch::new();
    let input = scratch.write("in.txt", b"keep me\n");
    let result = run(
        &[
            "run",
            plugins::UPPER,
            input.to_str().unwrap(),
            "-o",
            input.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(result.code(), Some(2));
    assert_eq!(
        std::fs::read(&input).unwrap(),
        b"keep me\n",
        "the input is intact"
    );
    let plugin = scratch.path("plugin.wat");
    std::fs::copy(plugins::UPPER_WAT, &plugin).unwrap();
    let before = std::fs::read(&plugin).unwrap();
    let result = run(
        &[
            "run",
            plugin.to_str().unwrap(),
            "-o",
            plugin.to_str().unwrap(),
        ],
        b"a\n",
    );
    assert_eq!(result.code(), Some(2));
    assert_eq!(std::fs::read(&plugin).unwrap(), before);
    // `-o -` is standard output.
    let dash = run(&["run", plugins::UPPER, "-o", "-"], b"a\n");
    assert_eq!(ok_stdout(&dash), "A\n");
}

#[test]
fn a_failure_to_write_the_output_is_not_a_failed_record() {
    let result = run(
        &["run", plugins::UPPER, "-o", "/dev/full"],
        "x\n".repeat(50_000).as_bytes(),
    );
    assert_eq!(result.code(), Some(2));
    assert!(
        result.stderr().contains("No space left on device"),
        "{}",
        result.stderr()
    );
    result.assert_no_panic();
}

// --- Trust and terminals -----------------------------------------------------

/// Plugin B's compiled code planted under plugin A's cache entry, in a
/// directory anyone could have made (0755/0644, as a `git clone` or a
/// restored CI cache gives): A's own code runs, never B's.
#[test]
fn a_planted_cache_entry_is_never_loaded() {
    let scratch = Scratch::new();
    let cache = scratch.path("cache");
    let cache_arg = cache.to_str().unwrap();
    let upper = run(
        &["run", plugins::UPPER, "--cache-dir", cache_arg],
        b"spin\n",
    );
    assert_eq!(ok_stdout(&upper), "SPIN\n");
    let upper_entry = std::fs::read_dir(&cache)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let other = scratch.path("other-cache");
    let hostile = run(
        &[
            "run",
            plugins::HOSTILE,
            "--cache-dir",
            other.to_str().unwrap(),
        ],
        b"x\n",
    );
    assert_eq!(hostile.code(), Some(0));
    let hostile_entry = std::fs::read_dir(&other)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::copy(&hostile_entry, &upper_entry).unwrap();
    std::fs::set_permissions(&upper_entry, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o755)).unwrap();
    let again = run(
        &[
            "run",
            plugins::UPPER,
            "--cache-dir",
            cache_arg,
            "--timeout",
            "2s",
            "--format",
            "jsonl",
        ],
        b"spin\n",
    );
    assert_eq!(again.jsonl()[0]["output"], "SPIN", "the planted code ran");
    // An existing directory keeps its mode.
    let mode = std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o755);
}

/// A relative cache directory in the environment is not used.
#[test]
fn relative_cache_directories_in_the_environment_are_ignored() {
    let scratch = Scratch::new();
    let output = sandmap()
        .args(["run", plugins::UPPER])
        .env("SANDMAP_CACHE_DIR", "rel-cache")
        .env("XDG_CACHE_HOME", "rel-xdg")
        .env("HOME", scratch.dir())
        .current_dir(scratch.dir())
        .stdin(std::fs::File::open(scratch.write("in.txt", b"a\n")).unwrap())
        .output()
        .unwrap();
    assert_eq!(output.stdout, b"A\n");
    assert!(!scratch.path("rel-cache").exists());
    assert!(!scratch.path("rel-xdg").exists());
}

/// `inspect` of a plugin whose export names carry terminal escapes, C1
/// controls and bidi overrides: every one is escaped.
#[test]
fn inspect_escapes_what_the_plugin_names() {
    for format in ["text", "json"] {
        let result = run(
            &["inspect", plugins::EVIL_NAMES_WAT, "--format", format],
            b"",
        );
        assert_eq!(result.code(), Some(0), "{}", result.stderr());
        let stdout = result.stdout();
        for bad in ['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}', '\r'] {
            assert!(
                !stdout.contains(bad),
                "{format}: {bad:?} reached the terminal: {stdout:?}"
            );
        }
        assert!(stdout.contains("sandbox: nothing granted"));
    }
}

/// Error lines from a guest in raw mode, and jsonl for a terminal: no raw
/// control, C1 or bidi character.
#[test]
fn guest_messages_reach_stderr_escaped() {
    let result = run(&["run", plugins::HOSTILE], b"ansi\n");
    let stderr = result.stderr();
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    assert!(stderr.contains("screen cleared"));
}
