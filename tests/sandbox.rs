//! End-to-end tests of the sandbox against hostile plugins: memory, output
//! and stack caps, deny-by-default WASI with explicit grants, captured
//! guest output, and fresh-instance isolation. Every test also checks that
//! the good records of the same run still succeed.

mod common;

use std::process::Stdio;

use common::*;

/// Runs the hostile mapper over `records` (one per line) with `args`,
/// returning the run and its jsonl.
fn hostile(args: &[&str], records: &[&str]) -> (Run, Vec<serde_json::Value>) {
    let mut all = vec!["run", plugins::HOSTILE, "--format", "jsonl"];
    all.extend_from_slice(args);
    let input = join_lines(&records.iter().map(|r| r.to_string()).collect::<Vec<_>>());
    let result = run(&all, &input);
    result.assert_no_panic();
    let values = result.jsonl();
    assert_eq!(
        values.len(),
        records.len(),
        "one object per record: {}",
        result.stderr()
    );
    (result, values)
}

/// Asserts that the records equal to `good` came back unchanged.
fn good_records_succeed(values: &[serde_json::Value], records: &[&str]) {
    for (value, record) in values.iter().zip(records) {
        if record.starts_with("good") {
            assert_eq!(value["status"], "ok", "{value}");
            assert_eq!(value["output"], *record);
        }
    }
}

#[test]
fn memory_bomb_fails_as_memory_and_the_worker_recovers() {
    let records = ["good1", "bomb", "good2", "bomb", "good3"];
    for isolate in [false, true] {
        let mut args = vec!["--max-memory", "32MiB", "-j", "1"];
        if isolate {
            args.push("--isolate");
        }
        let (result, values) = hostile(&args, &records);
        assert_eq!(result.code(), Some(1));
        assert_eq!(kinds(&values), [(1, "memory".into()), (3, "memory".into())]);
        good_records_succeed(&values, &records);
    }
}

#[test]
fn memory_bomb_with_no_flag_meets_the_default_cap_and_the_worker_recovers() {
    // With no --max-memory the default cap (1 GiB for the whole instance)
    // stops the bomb, as kind `memory`, and the next record runs.
    let records = ["bomb", "good"];
    let (_, values) = hostile(&["-j", "1"], &records);
    assert_eq!(kinds(&values), [(0, "memory".into())]);
    good_records_succeed(&values, &records);
}

#[test]
fn stack_bomb_is_a_trap_that_says_stack_overflow() {
    let records = ["good1", "recurse", "good2"];
    let (result, values) = hostile(&["-j", "1"], &records);
    assert_eq!(result.code(), Some(1));
    assert_eq!(kinds(&values), [(1, "trap".into())]);
    assert!(
        values[1]["message"]
            .as_str()
            .unwrap()
            .contains("stack overflow")
    );
    good_records_succeed(&values, &records);
}

#[test]
fn large_output_passes_uncapped_and_fails_capped() {
    let records = ["big", "good"];
    let (result, values) = hostile(&[], &records);
    assert_eq!(result.code(), Some(0));
    assert_eq!(values[0]["output"].as_str().unwrap().len(), 8 << 20);

    let (result, values) = hostile(&["--max-output", "1MiB"], &records);
    assert_eq!(result.code(), Some(1));
    assert_eq!(kinds(&values), [(0, "output".into())]);
    assert!(
        values[0].get("output").is_none(),
        "nothing of it is written"
    );
    good_records_succeed(&values, &records);

    // Raw mode: nothing of it reaches stdout.
    let raw = run(
        &["run", plugins::HOSTILE, "--max-output", "1MiB"],
        b"big\ngood\n",
    );
    assert_eq!(raw.stdout(), "good\n");
}

#[test]
fn command_output_past_the_cap_fails_as_output() {
    let result = run(
        &[
            "run",
            plugins::HOSTILE_COMMAND,
            "--max-output",
            "1MiB",
            "--format",
            "jsonl",
        ],
        b"flood\ngood\n",
    );
    let values = result.jsonl();
    assert_eq!(kinds(&values), [(0, "output".into())]);
    assert_eq!(values[1]["output"], "good");
}

#[test]
fn guest_panic_is_a_trap_with_the_panic_message() {
    let records = ["panic", "good"];
    let (_, values) = hostile(&[], &records);
    assert_eq!(kinds(&values), [(0, "trap".into())]);
    assert!(
        values[0]["message"]
            .as_str()
            .unwrap()
            .contains("hostile panic")
    );
    good_records_succeed(&values, &records);
}

#[test]
fn nothing_of_the_host_is_visible_by_default() {
    let records = ["passwd", "ls", "home", "path", "tcp", "env", "good"];
    let (_, values) = hostile(&[], &records);
    // Files, directory listing, variables and the network all fail...
    assert_eq!(
        kinds(&values),
        [
            (0, "guest".into()),
            (1, "guest".into()),
            (2, "guest".into()),
            (3, "guest".into()),
            (4, "guest".into()),
        ]
    );
    // ...the environment is empty...
    assert_eq!(values[5]["output"], "");
    good_records_succeed(&values, &records);
    // ...and no host data leaks into any message.
    let text = serde_json::to_string(&values).unwrap();
    assert!(!text.contains("root:"), "{text}");
    if let Ok(path) = std::env::var("PATH") {
        assert!(!text.contains(&path), "{text}");
    }

    let command = run(
        &["run", plugins::HOSTILE_COMMAND, "--format", "jsonl"],
        b"passwd\n",
    );
    assert_eq!(kinds(&command.jsonl()), [(0, "guest".into())]);
    assert!(!command.stdout().contains("root:"));
}

#[test]
fn env_grants_show_exactly_what_was_granted() {
    let records = ["env", "getenv:GREETING", "home"];
    let (_, values) = hostile(&["--env", "GREETING=hello there"], &records);
    assert_eq!(values[0]["output"], "GREETING=hello there\n");
    assert_eq!(values[1]["output"], "hello there");
    assert_eq!(kinds(&values), [(2, "guest".into())]);
}

#[test]
fn dir_grants_are_read_only_and_only_that_directory() {
    let scratch = Scratch::new();
    scratch.write("data.txt", b"granted contents");
    let grant = format!("{}::/data", scratch.dir().display());
    let records = [
        "read:/data/data.txt",
        "write:/data/new.txt",
        "passwd",
        "read:/data/../etc/passwd",
    ];
    let (_, values) = hostile(&["--dir", &grant], &records);
    assert_eq!(values[0]["output"], "granted contents");
    assert_eq!(
        kinds(&values),
        [
            (1, "guest".into()),
            (2, "guest".into()),
            (3, "guest".into())
        ]
    );
    assert!(
        !scratch.path("new.txt").exists(),
        "the guest wrote to a read-only grant"
    );
}

#[test]
fn isolate_gives_every_record_a_fresh_instance() {
    let records = ["count", "count", "count", "count"];
    let (_, values) = hostile(&["--isolate", "-j", "2"], &records);
    assert!(values.iter().all(|v| v["output"] == "1"), "{values:?}");
    // Without it the instance is reused: the counter goes up.
    let (_, values) = hostile(&["-j", "1"], &records);
    let counts: Vec<&str> = values
        .iter()
        .map(|v| v["output"].as_str().unwrap())
        .collect();
    assert_eq!(counts, ["1", "2", "3", "4"]);
}

/// What the stateful command must report for `record` when it starts
/// from a fresh instance's state.
fn fresh_report(record: &str) -> String {
    format!("0fresh09:{record}")
}

#[test]
fn every_record_of_a_kept_command_starts_from_the_fresh_state() {
    // Records that return, grow the memory, exit 3, exit 0 and trap, in
    // turn: whatever the record before did, the next one sees none of it.
    // Now and then a record longer than the command reads: the rest must
    // not reach the next record.
    let records: Vec<String> = (0..700)
        .map(|i| {
            let first = ["r", "g", "x", "r", "e", "t", "r"][i % 7];
            let tail = if i % 50 == 3 {
                "z".repeat(3000)
            } else {
                String::new()
            };
            format!("{first}{i}{tail}")
        })
        .collect();
    let input = join_lines(&records);
    for args in [&["-j", "1"][..], &["-j", "2"], &["-j", "2", "--isolate"]] {
        let mut all = vec!["run", plugins::STATEFUL_COMMAND_WAT, "--format", "jsonl"];
        all.extend_from_slice(args);
        let result = run(&all, &input);
        result.assert_no_panic();
        let values = result.jsonl();
        assert_eq!(values.len(), records.len(), "{args:?}: {}", result.stderr());
        for (value, record) in values.iter().zip(&records) {
            let read = &record[..record.len().min(2039)];
            let expected = match &record[..1] {
                "x" => serde_json::json!("guest"),
                "t" => serde_json::json!("trap"),
                _ => serde_json::json!(fresh_report(read)),
            };
            if value["kind"] == "guest" {
                // Its stderr, and only its own.
                let message = value["message"].as_str().unwrap();
                let own = fresh_report(read);
                let tail = &own[own.len().saturating_sub(200)..];
                assert!(message.ends_with(&format!("{tail})")), "{message}");
                assert!(message.matches("0fresh09:").count() <= 1, "{message}");
            }
            let got = if value["status"] == "ok" {
                &value["output"]
            } else {
                &value["kind"]
            };
            assert_eq!(got, &expected, "{args:?}, record {record}: {value}");
        }
    }
}

#[test]
fn every_isolated_record_of_a_kept_mapper_starts_from_the_fresh_state() {
    // With --isolate the mapper's instance is put back after each record:
    // whatever the record before did (return, fail, grow, trap, keep a
    // handle), the next one sees none of it.
    let records: Vec<String> = (0..700)
        .map(|i| format!("{}{i}", ["r", "e", "g", "r", "t", "h", "r", "d"][i % 8]))
        .collect();
    let input = join_lines(&records);
    for jobs in ["1", "2"] {
        let all = [
            "run",
            plugins::STATEFUL_MAPPER_WAT,
            "--format",
            "jsonl",
            "--isolate",
            "-j",
            jobs,
        ];
        let result = run(&all, &input);
        result.assert_no_panic();
        let values = result.jsonl();
        assert_eq!(values.len(), records.len(), "{}", result.stderr());
        for (value, record) in values.iter().zip(&records) {
            let expected = match &record[..1] {
                "e" => serde_json::json!("guest"),
                "t" => serde_json::json!("trap"),
                _ => serde_json::json!(fresh_report(record)),
            };
            let got = if value["status"] == "ok" {
                &value["output"]
            } else {
                &value["kind"]
            };
            assert_eq!(got, &expected, "-j {jobs}, record {record}: {value}");
        }
    }
    // Without --isolate the instance keeps its state: the test can tell.
    let result = run(&["run", plugins::STATEFUL_MAPPER_WAT, "-j", "1"], b"a\nb\n");
    assert_eq!(result.stdout(), "0fresh09:a\n1stale19:b\n");
}

#[test]
#[allow(
    clippy::zombie_processes,
    reason = "reaped by wait4, which gives the peak RSS"
)]
fn guest_stdio_floods_are_captured_bounded_and_kept_out_of_the_output() {
    let mut child = sandmap()
        .args(["run", plugins::HOSTILE, "-j", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"flood\ngood\n").unwrap();
    }
    let stdout = std::io::read_to_string(child.stdout.take().unwrap()).unwrap();
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    let (status, max_rss_kib) = wait_with_rusage(child.id());
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(stdout, "flooded\ngood\n");
    assert!(
        stderr.len() < 1000,
        "guest stderr leaked: {} bytes",
        stderr.len()
    );
    // 200 MB printed; sandmap's memory does not follow.
    assert!(max_rss_kib < 150 * 1024, "peak RSS {max_rss_kib} KiB");
}

#[test]
fn guest_text_is_escaped_before_reaching_the_terminal() {
    let result = run(&["run", plugins::HOSTILE], b"ansi\n");
    let stderr = result.stderr();
    assert!(
        !stderr.contains('\u{1b}'),
        "raw escape code reached stderr: {stderr:?}"
    );
    assert!(stderr.contains("screen cleared"));
}
