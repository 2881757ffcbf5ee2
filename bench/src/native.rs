//! The native limit: the same functions as the plugins, in Rust, on rayon.

use rayon::prelude::*;

/// `plugins/upper`: ASCII uppercase.
pub fn upper(record: &[u8]) -> Vec<u8> {
    record.to_ascii_uppercase()
}

/// `plugins/hash`: FNV-1a of the record, then 20,000 rounds of a 32-bit
/// integer hash, as 8 hex digits.
pub fn hash(record: &[u8]) -> Vec<u8> {
    let mut h = record.iter().fold(0x811c_9dc5_u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    for round in 0..20_000u32 {
        h ^= h >> 16;
        h = h.wrapping_mul(0x7feb_352d);
        h ^= h >> 15;
        h = h.wrapping_mul(0x846c_a68b);
        h ^= h >> 16;
        h = h.wrapping_add(round);
    }
    format!("{h:08x}").into_bytes()
}

/// Maps `f` over `records` on `threads` rayon threads, in order.
pub fn map(records: &[Vec<u8>], threads: usize, f: fn(&[u8]) -> Vec<u8>) -> Vec<Vec<u8>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("rayon pool");
    pool.install(|| records.par_iter().map(|r| f(r)).collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn hash_matches_the_plugins_test_vectors() {
        assert_eq!(super::hash(b""), b"3115add5");
        assert_eq!(super::hash(b"hello"), b"df38ef90");
    }
}
