//! Tests of the library API: the builder and its validation, map and
//! map_reader, cancellation from another thread, concurrent runs on one
//! pool, and errors of the run itself.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::plugins;
use sandmap::{
    BuildError, CancelToken, ConfigError, ErrorKind, LoadError, Order, Pool, RecordResult, Results,
    RunError, Shard,
};

/// The results of a run that must end without a run error.
fn collect(results: Results) -> Vec<RecordResult> {
    results
        .map(|r| r.unwrap_or_else(|e| panic!("run error: {e}")))
        .collect()
}

fn outputs(results: &[RecordResult]) -> Vec<String> {
    results
        .iter()
        .map(|r| match &r.outcome {
            Ok(output) => String::from_utf8_lossy(output).into_owned(),
            Err(error) => format!("<{}>", error.kind),
        })
        .collect()
}

#[test]
fn public_types_can_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Pool>();
    send_sync::<CancelToken>();
    send_sync::<BuildError>();
    send_sync::<RunError>();
    send_sync::<RecordResult>();
    send::<Results>();
}

#[test]
fn map_over_an_iterator_gives_results_in_order() {
    let pool = Pool::builder(plugins::UPPER).jobs(2).build().unwrap();
    let records: Vec<String> = (0..5000).map(|i| format!("rec{i}")).collect();
    let results = collect(pool.map(records));
    assert_eq!(results.len(), 5000);
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result.index, i as u64);
        assert_eq!(
            result.outcome.as_deref().unwrap(),
            format!("REC{i}").as_bytes()
        );
        assert_eq!(result.attempts, 1);
    }
    // A pool serves more than one run, and borrowed static records work.
    let again = collect(pool.map([&b"x"[..], b""]));
    assert_eq!(outputs(&again), ["X", "<guest>"]);
}

#[test]
fn map_reader_cuts_records_and_reports_a_record_too_long_after_the_rest() {
    let pool = Pool::builder(plugins::UPPER_WAT)
        .jobs(2)
        .max_record(5)
        .build()
        .unwrap();
    let input = std::io::Cursor::new(b"one\ntwo\nthree\nfour!!\nfive\n".to_vec());
    let items: Vec<_> = pool.map_reader(input).collect();
    assert_eq!(items.len(), 4);
    let ok: Vec<RecordResult> = items[..3]
        .iter()
        .map(|r| r.as_ref().unwrap().clone())
        .collect();
    assert_eq!(outputs(&ok), ["ONE", "TWO", "THREE"]);
    match &items[3] {
        Err(RunError::RecordTooLong { index: 3, limit: 5 }) => {}
        other => panic!("expected the record-too-long error, got {other:?}"),
    }
    // NUL-separated input.
    let pool = Pool::builder(plugins::UPPER_WAT)
        .delimiter(0)
        .build()
        .unwrap();
    let results = collect(pool.map_reader(std::io::Cursor::new(b"a\nb\0c\0".to_vec())));
    assert_eq!(outputs(&results), ["A\nB", "C"]);
}

#[test]
fn a_read_error_ends_the_run_with_an_error() {
    struct Failing(usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("disk on fire"));
            }
            self.0 -= 1;
            buf[..2].copy_from_slice(b"a\n");
            Ok(2)
        }
    }
    let pool = Pool::builder(plugins::UPPER_WAT).build().unwrap();
    let items: Vec<_> = pool.map_reader(Failing(3)).collect();
    assert_eq!(items.len(), 4);
    assert!(items[..3].iter().all(|r| r.is_ok()));
    assert!(matches!(&items[3], Err(RunError::Read(e)) if e.to_string() == "disk on fire"));
}

#[test]
fn a_panicking_record_source_is_an_error_not_a_short_run() {
    let pool = Pool::builder(plugins::UPPER_WAT).jobs(2).build().unwrap();
    let records = (0..100u32).map(|i| {
        assert!(i < 50, "the user's iterator gave up");
        format!("r{i}")
    });
    let items: Vec<_> = pool.map(records).collect();
    assert_eq!(items.len(), 51);
    assert!(items[..50].iter().all(|r| r.is_ok()));
    match &items[50] {
        Err(RunError::SourcePanicked(message)) => assert!(message.contains("gave up")),
        other => panic!("expected a source panic, got {other:?}"),
    }
}

#[test]
fn the_builder_refuses_bad_settings_with_typed_errors() {
    let config = |builder: sandmap::PoolBuilder| match builder.build() {
        Err(BuildError::Config(error)) => error,
        other => panic!("expected a config error, got {other:?}"),
    };
    assert!(matches!(
        config(Pool::builder(plugins::UPPER).jobs(0)),
        ConfigError::Jobs { .. }
    ));
    assert!(matches!(
        config(Pool::builder(plugins::UPPER).timeout(Duration::from_secs(u64::MAX))),
        ConfigError::Timeout { .. }
    ));
    assert!(matches!(
        config(Pool::builder(plugins::UPPER).dir_read_only("/no/such/dir", "/d")),
        ConfigError::Dir { .. }
    ));
    assert!(matches!(
        config(Pool::builder(plugins::UPPER).env("A=B", "c")),
        ConfigError::EnvName(_)
    ));
    assert!(matches!(
        config(Pool::builder(plugins::UPPER).shard(Shard::new(2, 2))),
        ConfigError::Shard { .. }
    ));
    match Pool::builder("/no/such/plugin.wasm").build() {
        Err(BuildError::Load(LoadError::Read { source, .. })) => {
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected a read error, got {other:?}"),
    }
    // The cause of a load error is kept, for callers that walk it.
    let error = Pool::builder(plugins::WRONG_EXPORTS_WAT)
        .build()
        .unwrap_err();
    assert!(matches!(
        error,
        BuildError::Load(LoadError::NoEntryPoint { .. })
    ));
    let error = Pool::builder(sandmap::PluginSource::bytes(
        "bad",
        b"(module (func $f (result i32)))".to_vec(),
    ))
    .build()
    .unwrap_err();
    let source = std::error::Error::source(&error);
    assert!(source.is_some() || matches!(error, BuildError::Load(LoadError::NoEntryPoint { .. })));
    // No message names a command-line flag.
    for error in [
        Pool::builder(plugins::UPPER).jobs(0).build().unwrap_err(),
        Pool::builder(plugins::UPPER).fuel(0).build().unwrap_err(),
    ] {
        assert!(!error.to_string().contains("--"), "{error}");
    }
}

#[test]
fn cancel_from_another_thread_interrupts_running_records() {
    let pool = Pool::builder(plugins::HOSTILE)
        .jobs(2)
        .order(Order::Completion)
        .build()
        .unwrap();
    let results = pool.map(["spin", "sleep", "spin"]);
    let cancel = results.cancel_token();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        cancel.cancel();
        Instant::now()
    });
    let collected = collect(results);
    let cancelled_at = canceller.join().unwrap();
    assert!(cancelled_at.elapsed() < Duration::from_secs(5));
    assert_eq!(collected.len(), 3);
    for result in &collected {
        assert_eq!(
            result.outcome.as_ref().unwrap_err().kind,
            ErrorKind::Interrupted
        );
    }
    // The pool is usable after a cancel.
    assert_eq!(outputs(&collect(pool.map(["again"]))), ["again"]);
}

/// A cancel that lands while a record's fresh store is being made and
/// armed must still stop it. Thousands of runs each cancel at a different
/// moment; with no time limit, a missed cancel would spin for ever, which
/// the watchdog below turns into a failure.
/// Runs `records`, cancelling the run at a moment picked by `i`, spread
/// over its first ~150 µs (where stores are being made); the results, or
/// `None` when the run did not end within 20 s (a missed cancel).
fn cancelled_run(pool: &Pool, records: Vec<&'static str>, i: u64) -> Option<Vec<RecordResult>> {
    let results = pool.map(records);
    let cancel = results.cancel_token();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(collect(results));
    });
    std::thread::sleep(Duration::from_nanos((i * 7919) % 150_000));
    cancel.cancel();
    finished.recv_timeout(Duration::from_secs(20)).ok()
}

#[test]
fn a_cancel_is_never_missed_whatever_the_moment() {
    for (plugin, isolate) in [(plugins::HOSTILE, true), (plugins::HOSTILE_COMMAND, false)] {
        let pool = Pool::builder(plugin)
            .jobs(2)
            .isolate(isolate)
            .build()
            .unwrap();
        for i in 0..1500u64 {
            let collected = cancelled_run(&pool, vec!["spin"; 4], i)
                .unwrap_or_else(|| panic!("a cancel was missed ({plugin}, run {i})"));
            assert!(collected.len() <= 4);
            for result in &collected {
                assert_eq!(
                    result.outcome.as_ref().unwrap_err().kind,
                    ErrorKind::Interrupted
                );
            }
        }
    }
}

#[test]
fn a_cancel_on_a_kept_command_is_never_missed_and_leaves_no_state() {
    // Records that return (their instance is kept) and records that spin
    // (interrupted: their instance is thrown away), cancelled at every
    // moment: each run ends, and every record that finished found the
    // fresh state. The same for a mapper whose isolated records share an
    // instance.
    let command = Pool::builder(plugins::STATEFUL_COMMAND_WAT)
        .jobs(2)
        .build()
        .unwrap();
    assert!(command.plugin().reuses_instances);
    let mapper = Pool::builder(plugins::STATEFUL_MAPPER_WAT)
        .jobs(2)
        .isolate(true)
        .build()
        .unwrap();
    assert!(mapper.plugin().isolates_in_place);
    for i in 0..3000u64 {
        let pool = if i % 2 == 0 { &command } else { &mapper };
        let collected = cancelled_run(pool, vec!["r", "r", "s", "r", "s", "r"], i)
            .unwrap_or_else(|| panic!("a cancel was missed (run {i})"));
        for result in &collected {
            match &result.outcome {
                Ok(output) => assert_eq!(output, b"0fresh09:r", "run {i}"),
                Err(error) => assert_eq!(error.kind, ErrorKind::Interrupted, "run {i}"),
            }
        }
    }
}

#[test]
fn dropping_the_results_cancels_the_run() {
    let pool = Pool::builder(plugins::HOSTILE).jobs(2).build().unwrap();
    let started = Instant::now();
    let results = pool.map(["spin", "spin"]);
    std::thread::sleep(Duration::from_millis(100));
    drop(results);
    // The workers are free again at once.
    assert_eq!(outputs(&collect(pool.map(["free"]))), ["free"]);
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Two runs on one pool, the first not read at all while the second is
/// read to the end: no deadlock, both complete, each in its own order.
#[test]
fn runs_on_one_pool_go_on_at_once() {
    let pool = Pool::builder(plugins::UPPER)
        .jobs(2)
        .max_in_flight(64 << 10)
        .build()
        .unwrap();
    let big: Vec<String> = (0..20_000).map(|i| format!("a{i:0>100}")).collect();
    let small: Vec<String> = (0..5_000).map(|i| format!("b{i}")).collect();
    let a = pool.map(big.clone());
    let b = pool.map(small.clone());
    let b = collect(b);
    assert_eq!(b.len(), small.len());
    let a = collect(a);
    assert_eq!(a.len(), big.len());
    assert_eq!(outputs(&a)[19_999], big[19_999].to_uppercase());
    // And from several threads at once.
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let records: Vec<String> = (0..3000).map(|i| format!("t{t}-{i}")).collect();
                let results = collect(pool.map(records.clone()));
                assert_eq!(
                    outputs(&results),
                    records.iter().map(|r| r.to_uppercase()).collect::<Vec<_>>()
                );
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

#[test]
fn completion_order_lets_fast_records_overtake_a_slow_one() {
    let pool = Pool::builder(plugins::HOSTILE)
        .jobs(2)
        .order(Order::Completion)
        .build()
        .unwrap();
    let mut records = vec!["busy:1500".to_string()];
    records.extend((0..200).map(|i| format!("r{i}")));
    let results = collect(pool.map(records));
    let first_slow = results.iter().position(|r| r.index == 0).unwrap();
    assert!(
        first_slow > 100,
        "the slow record came out at position {first_slow}"
    );
    let mut indices: Vec<u64> = results.iter().map(|r| r.index).collect();
    indices.sort();
    assert_eq!(indices, (0..201).collect::<Vec<u64>>());
}

#[test]
fn pool_cancel_stops_every_run_and_the_pool_goes_on() {
    let pool = Pool::builder(plugins::HOSTILE).jobs(2).build().unwrap();
    let a = pool.map(["spin"]);
    let b = pool.map(["sleep"]);
    std::thread::sleep(Duration::from_millis(200));
    pool.cancel();
    for run in [a, b] {
        let results = collect(run);
        assert_eq!(
            results[0].outcome.as_ref().unwrap_err().kind,
            ErrorKind::Interrupted
        );
    }
    assert_eq!(outputs(&collect(pool.map(["after"]))), ["after"]);
}

#[test]
fn retries_run_listed_kinds_again_on_a_fresh_instance() {
    let pool = Pool::builder(plugins::HOSTILE)
        .jobs(1)
        .timeout(Duration::from_millis(200))
        .retry(sandmap::Retry::new([ErrorKind::Timeout], 2))
        .build()
        .unwrap();
    let results = collect(pool.map(["spin", "err", "ok"]));
    assert_eq!(outputs(&results), ["<timeout>", "<guest>", "ok"]);
    assert_eq!(results[0].attempts, 3);
    assert_eq!(results[1].attempts, 1, "guest errors are not listed");
    assert_eq!(results[2].attempts, 1);
}

#[test]
fn stats_measure_time_fuel_and_memory() {
    let pool = Pool::builder(plugins::HOSTILE)
        .jobs(1)
        .fuel(10_000_000_000)
        .stats(true)
        .build()
        .unwrap();
    let results = collect(pool.map(["busy:50", "grow:8", "x"]));
    let stats: Vec<_> = results.iter().map(|r| r.stats.expect("stats")).collect();
    assert!(stats[0].wall >= Duration::from_millis(50), "{:?}", stats[0]);
    for s in &stats {
        let fuel = s.fuel.expect("fuel is metered");
        assert!(fuel > 0 && fuel <= 10_000_000_000);
        assert!(s.memory >= 64 << 10, "memory {}", s.memory);
    }
    assert!(stats[1].memory >= 8 << 20);
}

/// Runs `records` through a stateful plugin (command or mapper), checks
/// that each found the fresh state, and counts those that ran on an
/// instance an earlier record had used.
fn fresh_and_reused(pool: &Pool, records: &[String]) -> usize {
    let results = collect(pool.map(records.to_vec()));
    for (result, record) in results.iter().zip(records) {
        let output = result.outcome.as_deref().expect("ok");
        assert_eq!(output, format!("0fresh09:{record}").as_bytes());
    }
    results
        .iter()
        .filter(|r| r.stats.expect("stats").reused)
        .count()
}

#[test]
fn a_command_whose_state_can_be_put_back_keeps_its_instance() {
    let records: Vec<String> = (0..300).map(|i| format!("r{i}")).collect();
    let reused = |pool: &Pool| fresh_and_reused(pool, &records);
    let kept = Pool::builder(plugins::STATEFUL_COMMAND_WAT)
        .jobs(1)
        .stats(true)
        .build()
        .unwrap();
    assert!(kept.plugin().reuses_instances);
    // Only the first record had to make the instance.
    assert_eq!(reused(&kept), records.len() - 1);
    let isolated = Pool::builder(plugins::STATEFUL_COMMAND_WAT)
        .jobs(1)
        .stats(true)
        .isolate(true)
        .build()
        .unwrap();
    assert_eq!(reused(&isolated), 0);
    // Records that grow the memory cannot be put back; after a few in a
    // row the worker stops keeping instances, and every record is still
    // right. (The first may run on the instance the last run left.)
    let growing: Vec<String> = (0..20).map(|i| format!("g{i}")).collect();
    let results = collect(kept.map(growing.clone()));
    for (result, record) in results.iter().zip(&growing) {
        assert_eq!(
            result.outcome.as_deref().unwrap(),
            format!("0fresh09:{record}").as_bytes()
        );
        assert!(result.index == 0 || !result.stats.unwrap().reused);
    }
    // What a Rust toolchain builds for wasm32-wasip1 qualifies.
    let echo = Pool::builder(plugins::ECHO).build().unwrap();
    assert!(echo.plugin().reuses_instances);
    // A command that may close a descriptor keeps its instance, with a new
    // WASI context for every record.
    let scratch = common::Scratch::new();
    let stateful = std::fs::read_to_string(plugins::STATEFUL_COMMAND_WAT).unwrap();
    let closing = stateful.replace(
        "(memory (export \"memory\") 9)",
        "(import \"wasi_snapshot_preview1\" \"fd_close\" (func (param i32) (result i32))) \
         (memory (export \"memory\") 9)",
    );
    assert_ne!(closing, stateful);
    let plugin = scratch.write("closing.wat", closing.as_bytes());
    let closing = Pool::builder(&plugin).jobs(1).stats(true).build().unwrap();
    assert!(closing.plugin().reuses_instances);
    assert_eq!(reused(&closing), records.len() - 1);
}

#[test]
fn an_isolated_mapper_whose_state_can_be_put_back_keeps_its_instance() {
    let records: Vec<String> = (0..300).map(|i| format!("r{i}")).collect();
    let isolated = |plugin: &std::path::Path| {
        Pool::builder(plugin)
            .jobs(1)
            .stats(true)
            .isolate(true)
            .build()
            .unwrap()
    };
    let reused = fresh_and_reused;
    let pool = isolated(plugins::STATEFUL_MAPPER_WAT.as_ref());
    // Only the first record had to make the instance.
    assert_eq!(reused(&pool, &records), records.len() - 1);
    // A record that keeps a handle the host gave it leaves state in the
    // host: the next record gets a fresh instance.
    // So does one that took a handle and dropped it: a fresh instance would
    // number its next handle differently.
    let handles: Vec<String> = ["r0", "h1", "r2", "r3", "h4", "h5", "r6", "d7", "r8", "r9"]
        .map(String::from)
        .to_vec();
    let results = collect(pool.map(handles.clone()));
    let kept: Vec<bool> = results.iter().map(|r| r.stats.unwrap().reused).collect();
    assert_eq!(
        kept[1..],
        [true, false, true, true, false, false, true, false, true]
    );
    for (result, record) in results.iter().zip(&handles) {
        let output = result.outcome.as_deref().expect("ok");
        assert_eq!(output, format!("0fresh09:{record}").as_bytes());
    }
    // Records that grow the memory cannot be put back; after a few in a
    // row the worker makes a fresh instance for every record.
    let growing: Vec<String> = (0..20).map(|i| format!("g{i}")).collect();
    assert!(reused(&pool, &growing) <= 3);
    // A mapper whose code could change a table, or that has a start
    // function, gets a fresh instance per record.
    let scratch = common::Scratch::new();
    let stateful = std::fs::read_to_string(plugins::STATEFUL_MAPPER_WAT).unwrap();
    let memory = "(memory (export \"memory\") 9)";
    for extra in [
        "(table 1 funcref) (func (table.set 0 (i32.const 0) (ref.null func)))",
        "(func $s) (start $s)",
        "(memory 1)",
    ] {
        let changed = stateful.replace(memory, &format!("{memory} {extra}"));
        assert_ne!(changed, stateful);
        let plugin = scratch.write("changed.wat", changed.as_bytes());
        assert_eq!(reused(&isolated(&plugin), &records[..20]), 0, "{extra}");
    }
    // What the Rust toolchain builds for wasm32-wasip2 qualifies, and gives
    // the same results isolated or not.
    let words: Vec<String> = (0..200).map(|i| format!("word {i}")).collect();
    let upper = Pool::builder(plugins::UPPER).jobs(1).build().unwrap();
    let isolated_upper = isolated(plugins::UPPER.as_ref());
    let plain = collect(upper.map(words.clone()));
    let kept = collect(isolated_upper.map(words.clone()));
    for (a, b) in plain.iter().zip(&kept) {
        assert_eq!(a.outcome.as_deref().unwrap(), b.outcome.as_deref().unwrap());
    }
    let kept_count = kept.iter().filter(|r| r.stats.unwrap().reused).count();
    assert_eq!(kept_count, words.len() - 1);
}

#[test]
fn a_command_that_changes_a_table_gets_a_fresh_instance_per_record() {
    let scratch = common::Scratch::new();
    let stateful = std::fs::read_to_string(plugins::STATEFUL_COMMAND_WAT).unwrap();
    // The same command, plus a function that would change a table.
    let with_table = stateful.replace(
        "(memory (export \"memory\") 9)",
        "(memory (export \"memory\") 9) (table 1 funcref) \
         (func (table.set 0 (i32.const 0) (ref.null func)))",
    );
    assert_ne!(with_table, stateful);
    let plugin = scratch.write("table.wat", with_table.as_bytes());
    let pool = Pool::builder(&plugin).jobs(1).stats(true).build().unwrap();
    assert!(!pool.plugin().reuses_instances);
    let results = collect(pool.map(["a", "b", "c"]));
    assert_eq!(
        outputs(&results),
        ["0fresh09:a", "0fresh09:b", "0fresh09:c"]
    );
    assert!(results.iter().all(|r| !r.stats.unwrap().reused));
}

#[test]
fn results_can_be_polled_owned_or_borrowed() {
    // try_next / next_timeout (owned) and try_next_view / next_view_timeout
    // (borrowed) give the same results as iterating, each once.
    let pool = Pool::builder(plugins::UPPER).jobs(2).build().unwrap();
    let records: Vec<String> = (0..5_000).map(|i| format!("r{i}")).collect();
    let expected: Vec<Vec<u8>> = records
        .iter()
        .map(|r| r.to_uppercase().into_bytes())
        .collect();

    let mut owned = Vec::new();
    let mut results = pool.map(records.clone());
    loop {
        match results.try_next() {
            sandmap::TryNext::Ready(result) => owned.push(result.unwrap().outcome.unwrap()),
            sandmap::TryNext::Done => break,
            _ => match results.next_timeout(Duration::from_millis(50)) {
                sandmap::TryNext::Ready(result) => owned.push(result.unwrap().outcome.unwrap()),
                sandmap::TryNext::Done => break,
                _ => {}
            },
        }
    }
    assert_eq!(owned, expected);

    let mut borrowed = Vec::new();
    let mut results = pool.map(records);
    loop {
        let next = match results.try_next_view() {
            sandmap::TryNext::Pending => results.next_view_timeout(Duration::from_millis(50)),
            next => next,
        };
        match next {
            sandmap::TryNext::Ready(view) => {
                let view = view.unwrap();
                assert_eq!(view.index, borrowed.len() as u64);
                borrowed.push(view.outcome.unwrap().to_vec());
            }
            sandmap::TryNext::Done => break,
            _ => {}
        }
    }
    assert_eq!(borrowed, expected);
}

/// A reader that gives one line, then blocks until `release` is dropped.
struct StallingReader {
    first: Option<&'static [u8]>,
    release: std::sync::mpsc::Receiver<()>,
}

impl Read for StallingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(first) = self.first.take() {
            buf[..first.len()].copy_from_slice(first);
            return Ok(first.len());
        }
        let _ = self.release.recv();
        Ok(0)
    }
}

#[test]
fn a_cancel_ends_the_run_while_the_reader_is_blocked() {
    let pool = Pool::builder(plugins::UPPER).build().unwrap();
    let (keep, release) = std::sync::mpsc::channel();
    let mut results = pool.map_reader(StallingReader {
        first: Some(b"first\n"),
        release,
    });
    let first = results.next().unwrap().unwrap();
    assert_eq!(first.outcome.unwrap(), b"FIRST");
    let cancel = results.cancel_token();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        cancel.cancel();
    });
    let started = Instant::now();
    assert!(results.next().is_none(), "nothing after the cancel");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(keep);
    // The pool is usable while, or after, the reader thread lets go.
    assert_eq!(outputs(&collect(pool.map(["again"]))), ["AGAIN"]);
}
