//! End-to-end tests of `sandmap run` on built plugins: results, framing,
//! formats, ordering and per-record errors.

mod common;

use common::*;

fn upper_lines(lines: &[String]) -> Vec<String> {
    lines.iter().map(|l| l.to_ascii_uppercase()).collect()
}

#[test]
fn mappers_and_commands_map_10000_lines_in_order() {
    let scratch = Scratch::new();
    let lines = numbered_lines(10_000);
    let input = scratch.write("input.txt", &join_lines(&lines));
    let input = input.to_str().unwrap();
    let cases: [(&str, Vec<String>); 5] = [
        (plugins::UPPER, upper_lines(&lines)),
        (plugins::UPPER_WAT, upper_lines(&lines)),
        (plugins::ECHO, lines.clone()),
        (plugins::ECHO_WAT, lines.clone()),
        (plugins::ECHO_COMPONENT, lines.clone()),
    ];
    for (plugin, expected) in &cases {
        for jobs in ["1", "2"] {
            let raw = run(&["run", plugin, input, "-j", jobs], b"");
            let stdout = ok_stdout(&raw);
            let got: Vec<&str> = stdout.lines().collect();
            assert_eq!(got.len(), expected.len(), "{plugin} -j {jobs}");
            assert!(
                got.iter().zip(expected).all(|(a, b)| a == b),
                "{plugin} -j {jobs}: raw output differs"
            );

            let jsonl = run(
                &["run", plugin, input, "-j", jobs, "--format", "jsonl"],
                b"",
            );
            assert_eq!(jsonl.code(), Some(0), "{}", jsonl.stderr());
            let values = jsonl.jsonl();
            assert_eq!(values.len(), expected.len());
            for (i, (value, want)) in values.iter().zip(expected).enumerate() {
                assert_eq!(value["index"], i as u64);
                assert_eq!(value["status"], "ok");
                // A command's output keeps its own newline: that is the
                // plugin's output, exactly.
                let output = value["output"].as_str().unwrap();
                assert_eq!(output.trim_end_matches('\n'), want, "{plugin} record {i}");
            }
        }
    }
}

#[test]
fn guest_err_fails_only_that_record() {
    let result = run(
        &["run", plugins::UPPER, "--format", "jsonl"],
        b"a\n\nb\n\nc\n",
    );
    assert_eq!(result.code(), Some(1), "{}", result.stderr());
    let values = result.jsonl();
    assert_eq!(values.len(), 5);
    assert_eq!(
        kinds(&values),
        [(1, "guest".to_string()), (3, "guest".to_string())]
    );
    let outputs: Vec<&str> = values.iter().filter_map(|v| v["output"].as_str()).collect();
    assert_eq!(outputs, ["A", "B", "C"]);
    assert_eq!(values[1]["message"], "empty record");
}

#[test]
fn raw_mode_reports_failures_on_stderr_only() {
    let result = run(&["run", plugins::UPPER], b"a\n\nb\n");
    assert_eq!(result.code(), Some(1));
    assert_eq!(result.stdout(), "A\nB\n");
    let stderr = result.stderr();
    assert!(
        stderr.contains("sandmap: record 1: empty record"),
        "{stderr}"
    );
    result.assert_no_panic();
}

#[test]
fn framing_follows_the_spec() {
    // No trailing newline: the last line is still a record.
    assert_eq!(ok_stdout(&run(&["run", plugins::UPPER], b"a\nb")), "A\nB\n");
    // A final newline makes no extra empty record (which would fail).
    assert_eq!(
        ok_stdout(&run(&["run", plugins::UPPER], b"a\nb\n")),
        "A\nB\n"
    );
    // Empty input: no records, success.
    assert_eq!(ok_stdout(&run(&["run", plugins::UPPER], b"")), "");
    // A trailing \r is data.
    let crlf = run(&["run", plugins::ECHO, "--format", "jsonl"], b"a\r\nb\r\n");
    let values = crlf.jsonl();
    assert_eq!(values[0]["output"], "a\r");
    // NUL-separated records may contain newlines.
    let nul = run(&["run", plugins::UPPER, "-0"], b"one\ntwo\0three\0");
    assert_eq!(nul.output.stdout, b"ONE\nTWO\0THREE\0");
    assert_eq!(nul.code(), Some(0));
}

#[test]
fn non_utf8_output_is_base64_in_jsonl() {
    let result = run(
        &["run", plugins::ECHO, "--format", "jsonl"],
        b"\xff\xfe\x00\n",
    );
    let values = result.jsonl();
    assert_eq!(values[0]["output_base64"], "//4A");
    assert!(values[0].get("output").is_none());
}

#[test]
fn unordered_results_carry_every_index_once() {
    let lines = numbered_lines(2000);
    let result = run(
        &[
            "run",
            plugins::UPPER,
            "--unordered",
            "--format",
            "jsonl",
            "-j",
            "2",
        ],
        &join_lines(&lines),
    );
    assert_eq!(result.code(), Some(0));
    let mut seen: Vec<u64> = result
        .jsonl()
        .iter()
        .map(|v| v["index"].as_u64().unwrap())
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..2000).collect::<Vec<u64>>());
}

#[test]
fn output_goes_to_the_file_given() {
    let scratch = Scratch::new();
    let out = scratch.path("out.txt");
    let result = run(
        &["run", plugins::UPPER, "-o", out.to_str().unwrap()],
        b"x\ny\n",
    );
    assert_eq!(result.code(), Some(0));
    assert_eq!(result.stdout(), "");
    assert_eq!(std::fs::read_to_string(out).unwrap(), "X\nY\n");
}

#[test]
fn fail_fast_stops_at_the_first_failure() {
    let mut input = b"a\n\n".to_vec();
    input.extend(join_lines(&numbered_lines(5000)));
    let result = run(
        &[
            "run",
            plugins::UPPER,
            "--fail-fast",
            "--format",
            "jsonl",
            "-j",
            "1",
        ],
        &input,
    );
    assert_eq!(result.code(), Some(1));
    let values = result.jsonl();
    assert_eq!(values.len(), 2, "nothing after the failure is written");
    assert_eq!(kinds(&values), [(1, "guest".to_string())]);
}

#[test]
fn command_arguments_follow_double_dash() {
    // What follows `--` is the command's argv (after its program name),
    // as a core module and as a component.
    for plugin in [plugins::HOSTILE_COMMAND, plugins::HOSTILE_COMMAND_COMPONENT] {
        let result = run(&["run", plugin, "--", "--flag", "two words"], b"argv\n");
        assert_eq!(ok_stdout(&result), "--flag two words\n", "{plugin}");
    }
    let result = run(&["run", plugins::ECHO, "--", "--flag", "value"], b"kept\n");
    assert_eq!(ok_stdout(&result), "kept\n");
}

#[test]
fn command_exit_code_fails_the_record_with_its_stderr() {
    let result = run(
        &["run", plugins::HOSTILE_COMMAND, "--format", "jsonl"],
        b"fine\nexit:3\nfine too\n",
    );
    assert_eq!(result.code(), Some(1));
    let values = result.jsonl();
    assert_eq!(kinds(&values), [(1, "guest".to_string())]);
    let message = values[1]["message"].as_str().unwrap();
    assert!(message.contains("3"), "{message}");
    assert!(message.ends_with("failing with 3)"), "{message}");
    assert_eq!(values[0]["output"], "fine");
    assert_eq!(values[2]["output"], "fine too");
}

#[test]
fn an_overlong_record_stops_the_run_after_the_results_before_it() {
    let mut input = b"a\nb\n".to_vec();
    input.extend(vec![b'x'; 300_000]);
    input.extend(b"\nc\n");
    let capped = run(&["run", plugins::UPPER, "--max-record", "100KiB"], &input);
    assert_eq!(capped.code(), Some(2), "{}", capped.stderr());
    assert_eq!(capped.stdout(), "A\nB\n");
    capped.assert_no_panic();
    let roomy = run(&["run", plugins::UPPER, "--max-record", "1MiB"], &input);
    assert_eq!(roomy.code(), Some(0));
    assert_eq!(roomy.stdout().lines().count(), 4);
}

/// Results are written out while the input is still open (a pipeline
/// that feeds one record at a time gets each answer without closing its
/// end): held results go out soon after the reader finds nothing ready.
#[test]
fn results_flow_out_while_the_input_is_still_open() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    use std::sync::mpsc;
    use std::time::Duration;

    let mut child = sandmap()
        .args(["run", plugins::UPPER, "-q"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (lines, got) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines() {
            if lines.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    for record in ["first", "second", "third"] {
        writeln!(stdin, "{record}").unwrap();
        stdin.flush().unwrap();
        let answer = got.recv_timeout(Duration::from_secs(10));
        assert_eq!(
            answer.as_deref(),
            Ok(record.to_ascii_uppercase().as_str()),
            "the result of {record:?} must come out before the input ends"
        );
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
    assert!(
        got.recv_timeout(Duration::from_secs(10)).is_err(),
        "nothing more"
    );
}
