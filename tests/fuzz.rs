//! Random valid WebAssembly, run through the library under fuel, time and
//! memory limits: whatever the module does, the host must not panic, hang
//! or grow. Modules come from `wasm-smith`, seeded deterministically, so a
//! failure names the seed that reproduces it.

use std::time::{Duration, Instant};

use arbitrary::Unstructured;
use sandmap::{PluginSource, Pool};

/// How many modules one run of the test tries.
const CASES: u64 = 2000;

/// `(module (func (export "_start")))`: the export every generated module
/// must have, so that sandmap runs it as a command.
const START_TEMPLATE: &[u8] = &[
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
    0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type section: () -> ()
    0x03, 0x02, 0x01, 0x00, // function section
    0x07, 0x0a, 0x01, 0x06, b'_', b's', b't', b'a', b'r', b't', 0x00, 0x00, // export "_start"
    0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b, // code: an empty body
];

/// Deterministic bytes for seed `seed` (splitmix64).
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(1);
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A random module with a `_start`, or `None` if the bytes did not make one.
fn module(seed: u64) -> Option<Vec<u8>> {
    let data = bytes(seed, 8192);
    let mut u = Unstructured::new(&data);
    let mut config: wasm_smith::Config = u.arbitrary().ok()?;
    config.exports = Some(START_TEMPLATE.to_vec());
    config.max_imports = 0;
    config.min_funcs = 1;
    config.threads_enabled = false;
    config.gc_enabled = false;
    config.exceptions_enabled = false;
    config.memory64_enabled = false;
    config.custom_page_sizes_enabled = false;
    config.wide_arithmetic_enabled = false;
    config.custom_descriptors_enabled = false;
    // Typed references need the GC proposal, which is switched off.
    config.reference_types_enabled = false;
    config.shared_everything_threads_enabled = false;
    config.max_memories = config.max_memories.min(2);
    config.max_tables = config.max_tables.min(4);
    config.max_table_elements = config.max_table_elements.min(10_000);
    config.max_memory32_bytes = config.max_memory32_bytes.min(16 << 20);
    let module = wasm_smith::Module::new(config, &mut u).ok()?;
    Some(module.to_bytes())
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
    for seed in 0..CASES {
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
        "fuzz: {CASES} seeds, {generated} modules, {loaded} loaded, {ran} run in {:.1}s; RSS grew {} KiB after the first 100",
        started.elapsed().as_secs_f64(),
        grown
    );
    assert!(
        ran >= CASES / 2,
        "too few modules ran ({ran}): the generator settings are off"
    );
    assert!(grown < 256 << 10, "RSS grew by {grown} KiB over the run");
}
