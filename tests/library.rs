//! Tests of the library API: map an iterator, read results in order,
//! cancel from another thread.

mod common;

use std::time::{Duration, Instant};

use common::plugins;
use sandmap::{ErrorKind, Limits, Order, Pool, RunConfig};

#[test]
fn map_over_an_iterator_gives_results_in_order() {
    let pool = Pool::load(
        plugins::UPPER.as_ref(),
        RunConfig {
            jobs: 2,
            ..RunConfig::default()
        },
    )
    .unwrap();
    let records: Vec<Vec<u8>> = (0..5000).map(|i| format!("rec{i}").into_bytes()).collect();
    let results: Vec<_> = pool.map(records).collect();
    assert_eq!(results.len(), 5000);
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result.index, i as u64);
        assert_eq!(
            result.outcome.as_deref().unwrap(),
            format!("REC{i}").as_bytes()
        );
    }
    // A pool serves more than one run.
    let again: Vec<_> = pool.map(vec![b"x".to_vec(), Vec::new()]).collect();
    assert_eq!(again[0].outcome.as_deref().unwrap(), b"X");
    assert_eq!(
        again[1].outcome.as_ref().unwrap_err().kind,
        ErrorKind::Guest
    );
}

#[test]
fn cancel_from_another_thread_interrupts_running_records() {
    let config = RunConfig {
        jobs: 2,
        order: Order::Completion,
        ..RunConfig::default()
    };
    let pool = Pool::load(plugins::HOSTILE.as_ref(), config).unwrap();
    let records = vec![b"spin".to_vec(), b"sleep".to_vec(), b"spin".to_vec()];
    let results = pool.map(records);
    let cancel = results.cancel_token();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        let at = Instant::now();
        cancel.cancel();
        at
    });
    let collected: Vec<_> = results.collect();
    let cancelled_at = canceller.join().unwrap();
    assert!(cancelled_at.elapsed() < Duration::from_secs(2));
    assert_eq!(collected.len(), 3);
    for result in &collected {
        assert_eq!(
            result.outcome.as_ref().unwrap_err().kind,
            ErrorKind::Interrupted
        );
    }
}

#[test]
fn fuel_needs_an_engine_that_meters_it() {
    let engine = sandmap::Engine::new(&sandmap::EngineOptions::default()).unwrap();
    let plugin =
        sandmap::Plugin::load(&engine, plugins::UPPER.as_ref(), Default::default()).unwrap();
    let config = RunConfig {
        limits: Limits {
            fuel: Some(1000),
            ..Limits::default()
        },
        ..RunConfig::default()
    };
    assert!(Pool::new(plugin, config).is_err());
}
