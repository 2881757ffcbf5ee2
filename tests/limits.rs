//! End-to-end tests of per-record limits: fuel and wall-clock time, for
//! compute-bound guests and for guests blocked in host calls.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn spinning_record_times_out_and_the_others_succeed() {
    let result = run(
        &[
            "run",
            plugins::HOSTILE,
            "--timeout",
            "200ms",
            "--format",
            "jsonl",
            "-j",
            "2",
        ],
        b"a\nspin\nb\nc\n",
    );
    assert_eq!(result.code(), Some(1), "{}", result.stderr());
    let values = result.jsonl();
    assert_eq!(values.len(), 4);
    assert_eq!(kinds(&values), [(1, "timeout".to_string())]);
    let outputs: Vec<&str> = values.iter().filter_map(|v| v["output"].as_str()).collect();
    assert_eq!(outputs, ["a", "b", "c"]);
}

#[test]
fn spinning_record_runs_out_of_fuel_and_the_others_succeed() {
    let result = run(
        &[
            "run",
            plugins::HOSTILE,
            "--fuel",
            "10000000",
            "--format",
            "jsonl",
        ],
        b"a\nspin\nb\nspin\nc\n",
    );
    assert_eq!(result.code(), Some(1), "{}", result.stderr());
    let values = result.jsonl();
    assert_eq!(
        kinds(&values),
        [(1, "fuel".to_string()), (3, "fuel".to_string())]
    );
    assert_eq!(values[1]["message"], "fuel exhausted (limit 10000000)");
    let outputs: Vec<&str> = values.iter().filter_map(|v| v["output"].as_str()).collect();
    assert_eq!(outputs, ["a", "b", "c"]);
}

#[test]
fn raw_mode_names_the_limit_on_stderr() {
    let result = run(&["run", plugins::HOSTILE, "--fuel", "1000000"], b"spin\n");
    assert_eq!(result.code(), Some(1));
    assert!(
        result
            .stderr()
            .contains("sandmap: record 0: fuel exhausted (limit 1000000)"),
        "{}",
        result.stderr()
    );
}

#[test]
fn guest_sleeping_in_wasi_is_stopped_by_the_timeout() {
    let started = Instant::now();
    let result = run(
        &[
            "run",
            plugins::HOSTILE,
            "--timeout",
            "300ms",
            "--format",
            "jsonl",
        ],
        b"before\nsleep\nafter\n",
    );
    let elapsed = started.elapsed();
    assert_eq!(result.code(), Some(1), "{}", result.stderr());
    assert_eq!(kinds(&result.jsonl()), [(1, "timeout".to_string())]);
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    let outputs: Vec<String> = result
        .jsonl()
        .iter()
        .filter_map(|v| v["output"].as_str().map(String::from))
        .collect();
    assert_eq!(outputs, ["before", "after"]);
}

#[test]
fn command_sleeping_in_wasi_is_stopped_by_the_timeout() {
    let started = Instant::now();
    let result = run(
        &[
            "run",
            plugins::HOSTILE_COMMAND,
            "--timeout",
            "300ms",
            "--format",
            "jsonl",
        ],
        b"sleep\nfine\n",
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(kinds(&result.jsonl()), [(0, "timeout".to_string())]);
}

#[test]
fn commands_meet_timeout_and_fuel_whatever_their_form() {
    // A command spinning in its own code, as a core module and as a
    // `wasi:cli/run` component: the timeout and the fuel budget stop it,
    // and the records around it come through.
    for plugin in [plugins::HOSTILE_COMMAND, plugins::HOSTILE_COMMAND_COMPONENT] {
        for limit in [["--timeout", "300ms"], ["--fuel", "50000000"]] {
            let started = Instant::now();
            let result = run(
                &["run", plugin, limit[0], limit[1], "--format", "jsonl"],
                b"before\nspin\nafter\n",
            );
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{plugin} {limit:?}"
            );
            let kind = if limit[0] == "--fuel" {
                "fuel"
            } else {
                "timeout"
            };
            assert_eq!(
                kinds(&result.jsonl()),
                [(1, kind.to_string())],
                "{plugin} {limit:?}"
            );
            assert_eq!(result.jsonl().len(), 3);
        }
    }
}

#[test]
fn a_command_component_sleeping_in_wasi_meets_its_timeout() {
    let started = Instant::now();
    let result = run(
        &[
            "run",
            plugins::HOSTILE_COMMAND_COMPONENT,
            "--timeout",
            "300ms",
            "--format",
            "jsonl",
        ],
        b"sleep\nfine\nexit:3\n",
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        kinds(&result.jsonl()),
        [(0, "timeout".to_string()), (2, "guest".to_string())]
    );
}

#[test]
fn one_record_timeout_does_not_interrupt_another() {
    // A slow-but-finishing record beside a spinning one, on two workers:
    // only the spinner times out.
    let mut input = b"spin\nbusy:300\n".to_vec();
    input.extend(join_lines(&numbered_lines(3000)));
    let result = run(
        &[
            "run",
            plugins::HOSTILE,
            "--timeout",
            "500ms",
            "--format",
            "jsonl",
            "-j",
            "2",
        ],
        &input,
    );
    let values = result.jsonl();
    assert_eq!(kinds(&values), [(0, "timeout".to_string())]);
    assert_eq!(values.len(), 3002);
    assert_eq!(values[1]["status"], "ok", "the busy record finished");
}
