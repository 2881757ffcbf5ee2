//! Random valid WebAssembly, run through the library under fuel, time and
//! memory limits: whatever the module does, the host must not panic, hang
//! or grow. Modules come from `wasm-smith`, seeded deterministically (generated
//! at build time by `tests/artifacts`), so a failure names the seed that
//! reproduces it.

use std::time::{Duration, Instant};

use sandmap::{PluginSource, Pool};
use sandmap_test_artifacts::{FUZZ_CORPUS, FUZZ_SEEDS};

/// The corpus's module for `seed`, or `None` if its bytes made none.
fn module(seed: u64) -> Option<Vec<u8>> {
    let path = std::path::Path::new(FUZZ_CORPUS).join(format!("seed-{seed}.wasm"));
    match std::fs::read(&path) {
        Ok(wasm) => Some(wasm),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn random_modules_never_hurt_the_host() {
    let started = Instant::now();
    let (mut generated, mut loaded, mut ran) = (0u64, 0u64, 0u64);
    let mut baseline = None;
    for seed in 0..FUZZ_SEEDS {
        let Some(wasm) = module(seed) else { continue };
        generated += 1;
        let built = Pool::builder(PluginSource::bytes(format!("seed-{seed}.wasm"), wasm))
            .jobs(1)
            .fuel(200_000)
            .timeout(Duration::from_millis(250))
            .max_memory(32 << 20)
            .max_output(1 << 20)
            .build();
        // Refusing a module (too many memories for an instance, say) is
        // fine; what matters is that nothing panics.
        let pool = match built {
            Ok(pool) => pool,
            Err(error) => {
                if std::env::var_os("FUZZ_VERBOSE").is_some() {
                    eprintln!("seed {seed}: {error}");
                }
                continue;
            }
        };
        loaded += 1;
        let (done, finished) = std::sync::mpsc::channel();
        let results = pool.map(["a record", "another"]);
        std::thread::spawn(move || {
            let _ = done.send(results.collect::<Vec<_>>());
        });
        let results = finished
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("seed {seed}: the run did not end"));
        assert_eq!(results.len(), 2, "seed {seed}: one result per record");
        for result in results {
            let result = result.unwrap_or_else(|e| panic!("seed {seed}: run error {e}"));
            if let Err(error) = &result.outcome {
                assert!(
                    !error.message.contains("internal error"),
                    "seed {seed}: {error}"
                );
            }
        }
        ran += 1;
        // Memory must not creep up as modules come and go.
        if ran == 100 {
            baseline = Some(rss_kib());
        }
    }
    let grown = baseline.map(|b| rss_kib().saturating_sub(b)).unwrap_or(0);
    eprintln!(
        "fuzz: {FUZZ_SEEDS} seeds, {generated} modules, {loaded} loaded, {ran} run in {:.1}s; RSS grew {} KiB after the first 100",
        started.elapsed().as_secs_f64(),
        grown
    );
    assert!(
        ran >= FUZZ_SEEDS / 2,
        "too few modules ran ({ran}): the generator settings are off"
    );
    assert!(grown < 256 << 10, "RSS grew by {grown} KiB over the run");
}
