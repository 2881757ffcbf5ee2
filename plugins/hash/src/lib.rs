//! `hash`: a CPU-bound mapper for benchmarks. Each record costs 20,000
//! rounds of an integer hash, so a run measures the engine, not the I/O.
//!
//! The algorithm, exactly, for other implementations to copy (all
//! arithmetic on unsigned 32-bit integers, wrapping):
//!
//! ```text
//! h = 0x811c9dc5                       // FNV-1a (32-bit) of the record
//! for each byte b of the record:
//!     h = (h ^ b) * 0x01000193
//! for round in 0 .. 20000:             // round = 0, 1, ..., 19999
//!     h ^= h >> 16
//!     h *= 0x7feb352d
//!     h ^= h >> 15
//!     h *= 0x846ca68b
//!     h ^= h >> 16
//!     h += round
//! output: h as 8 lowercase hex digits, zero-padded, no newline
//! ```
//!
//! Test vectors: `""` → `3115add5`, `"hello"` → `df38ef90`,
//! `"sandmap"` → `f7dfaf7f`.
//!
//! Build: `cargo build --release --target wasm32-wasip2 -p hash`.

wit_bindgen::generate!({ world: "plugin", path: "../../wit" });

use exports::sandmap::plugin::mapper::Guest;

const ROUNDS: u32 = 20_000;

struct Hash;

impl Guest for Hash {
    fn map(input: Vec<u8>) -> Result<Vec<u8>, String> {
        Ok(format!("{:08x}", hash(&input)).into_bytes())
    }
}

fn hash(input: &[u8]) -> u32 {
    let mut h = input.iter().fold(0x811c_9dc5_u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    for round in 0..ROUNDS {
        h ^= h >> 16;
        h = h.wrapping_mul(0x7feb_352d);
        h ^= h >> 15;
        h = h.wrapping_mul(0x846c_a68b);
        h ^= h >> 16;
        h = h.wrapping_add(round);
    }
    h
}

export!(Hash);

#[cfg(test)]
mod tests {
    #[test]
    fn vectors() {
        assert_eq!(format!("{:08x}", super::hash(b"")), "3115add5");
        assert_eq!(format!("{:08x}", super::hash(b"hello")), "df38ef90");
        assert_eq!(format!("{:08x}", super::hash(b"sandmap")), "f7dfaf7f");
    }
}
