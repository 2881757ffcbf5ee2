//! The fuzz corpus of `tests/fuzz.rs`: random valid WebAssembly modules
//! from `wasm-smith`, seeded deterministically, written to
//! `OUT_DIR/fuzz/seed-N.wasm` (a seed whose bytes make no module has no
//! file, so a failure names the seed that reproduces it).
//!
//! Generated here, as a build dependency, rather than in the test: a
//! build dependency's features are not unified with the workspace's
//! normal dependencies, so `wasm-smith` (which turns on `arbitrary`'s
//! `derive`, and so changes the build of cranelift) does not make the
//! tests and the Python wheel compile wasmtime twice.

use std::fs;
use std::path::Path;

use arbitrary::Unstructured;

/// How many seeds the corpus tries.
pub const SEEDS: u64 = 2000;

/// `(module (func (export "_start")))`: the export every generated module
/// must have, so that sandmap runs it as a command.
const START_TEMPLATE: &[u8] = &[
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
    0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type section: () -> ()
    0x03, 0x02, 0x01, 0x00, // function section
    0x07, 0x0a, 0x01, 0x06, b'_', b's', b't', b'a', b'r', b't', 0x00, 0x00, // export "_start"
    0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b, // code: an empty body
];

/// Writes the corpus into `dir` (emptied first).
pub fn write(dir: &Path) -> std::io::Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir)?;
    }
    fs::create_dir_all(dir)?;
    for seed in 0..SEEDS {
        if let Some(wasm) = module(seed) {
            fs::write(dir.join(format!("seed-{seed}.wasm")), wasm)?;
        }
    }
    Ok(())
}

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
