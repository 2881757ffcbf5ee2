//! End-to-end tests of `--deterministic` (SPEC §7) with the `clocks`
//! plugin, which reports the clocks, random bytes and NaNs it sees: a
//! record's line depends only on the plugin, the options and the record,
//! whatever `-j`, the sharding or the time of the run.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// Twelve records, most of them the same bytes: only their index tells
/// them apart.
fn input(scratch: &Scratch) -> PathBuf {
    let mut records = vec!["same".to_string(); 10];
    records.extend(["other".to_string(), "é".to_string()]);
    scratch.write("input.txt", &join_lines(&records))
}

/// `sandmap run CLOCKS INPUT --format jsonl EXTRA...`, asserting exit 0.
fn clocks(input: &Path, extra: &[&str]) -> Vec<u8> {
    let mut args = vec!["run", plugins::CLOCKS, input.to_str().unwrap()];
    args.extend_from_slice(&["--format", "jsonl"]);
    args.extend_from_slice(extra);
    let result = run(&args, b"");
    assert_eq!(result.code(), Some(0), "{extra:?}: {}", result.stderr());
    result.output.stdout
}

/// The `name=` field of each record's output, by index.
fn field(jsonl: &[u8], name: &str) -> Vec<String> {
    let prefix = format!("{name}=");
    parse_jsonl(std::str::from_utf8(jsonl).unwrap())
        .iter()
        .map(|value| {
            let output = value["output"].as_str().expect("an ok record");
            let found = output
                .split(' ')
                .find_map(|part| part.strip_prefix(&prefix));
            found
                .unwrap_or_else(|| panic!("no {name}= in {output:?}"))
                .to_string()
        })
        .collect()
}

/// Runs the 3 shards of `input` with `extra` and merges them.
fn sharded(scratch: &Scratch, input: &Path, extra: &[&str]) -> Vec<u8> {
    let mut merge = vec!["merge".to_string()];
    for k in 0..3 {
        let shard = format!("{k}/3");
        let mut args = vec!["--shard", shard.as_str()];
        args.extend_from_slice(extra);
        let part = scratch.write(&format!("part-{k}.jsonl"), &clocks(input, &args));
        merge.push(part.to_str().unwrap().to_string());
    }
    let merge: Vec<&str> = merge.iter().map(String::as_str).collect();
    let merged = run(&merge, b"");
    assert_eq!(merged.code(), Some(0), "{}", merged.stderr());
    merged.output.stdout
}

#[test]
fn deterministic_lines_are_the_same_across_jobs_shards_and_time() {
    let scratch = Scratch::new();
    let input = input(&scratch);
    let one = clocks(&input, &["--deterministic", "-j", "1"]);
    assert_eq!(field(&one, "input").len(), 12);
    assert_eq!(clocks(&input, &["--deterministic", "-j", "2"]), one, "-j 2");
    assert_eq!(
        sharded(&scratch, &input, &["--deterministic"]),
        one,
        "3 shards"
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(
        clocks(&input, &["--deterministic", "--seed", "0"]),
        one,
        "2 s later"
    );

    // The random bytes depend on the record's index, not only its bytes.
    let random = field(&one, "random");
    for (i, a) in random.iter().enumerate() {
        for b in &random[i + 1..] {
            assert_ne!(a, b, "records with the same bytes get other random bytes");
        }
    }
    let nan = field(&one, "nan");
    assert!(
        nan.iter().all(|n| n == "7fc00000,7ff8000000000000"),
        "canonical NaNs: {nan:?}"
    );
}

#[test]
fn another_seed_gives_other_random_bytes() {
    let scratch = Scratch::new();
    let input = input(&scratch);
    let zero = clocks(&input, &["--deterministic"]);
    let seven = clocks(&input, &["--deterministic", "--seed", "7"]);
    for name in ["random", "insecure"] {
        let (a, b) = (field(&zero, name), field(&seven, name));
        assert!(a.iter().zip(&b).all(|(a, b)| a != b), "{name}: {a:?} {b:?}");
    }
    assert_eq!(
        field(&zero, "wall"),
        field(&seven, "wall"),
        "clocks do not depend on the seed"
    );
    assert_eq!(field(&zero, "input"), field(&seven, "input"));
}

#[test]
fn without_deterministic_runs_differ() {
    let scratch = Scratch::new();
    let input = input(&scratch);
    let first = clocks(&input, &[]);
    let second = clocks(&input, &[]);
    assert_ne!(first, second);
    let (a, b) = (field(&first, "random"), field(&second, "random"));
    assert!(
        a.iter().zip(&b).all(|(a, b)| a != b),
        "fresh random bytes each run"
    );
    assert!(
        field(&first, "wall") != field(&second, "wall"),
        "the real clock"
    );
}
