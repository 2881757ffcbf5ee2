//! Benchmark inputs, generated deterministically into a temp directory.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// A file of `count` newline-terminated records of about `width` bytes
/// (printable ASCII, mixed case), created once per process.
pub fn records_file(dir: &Path, count: usize, width: usize) -> PathBuf {
    let path = dir.join(format!("records-{count}x{width}.txt"));
    if path.exists() {
        return path;
    }
    let mut out = BufWriter::new(std::fs::File::create(&path).expect("create input"));
    for record in records(count, width) {
        out.write_all(&record).unwrap();
        out.write_all(b"\n").unwrap();
    }
    out.flush().unwrap();
    path
}

/// `count` records of about `width` bytes, as vectors.
pub fn records(count: usize, width: usize) -> impl Iterator<Item = Vec<u8>> {
    const WORDS: [&str; 10] = [
        "alpha",
        "Beta",
        "gamma",
        "Delta",
        "sandbox",
        "record",
        "Map",
        "untrusted",
        "plugin",
        "wasm",
    ];
    let mut state = 0x2545_f491_u32;
    (0..count).map(move |i| {
        let mut line = format!("{i} ");
        while line.len() < width {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            line.push_str(WORDS[(state % 10) as usize]);
            line.push(' ');
        }
        line.truncate(width);
        line.into_bytes()
    })
}
