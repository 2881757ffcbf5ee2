//! `clocks`: a mapper that reports what it can see of the host's clocks,
//! random numbers and floating point, to test `--deterministic`. For each
//! record it returns one line (no newline at the end):
//!
//! ```text
//! wall=W1,W2 mono=M1,M2 random=R insecure=I nan=N32,N64 input=RECORD
//! ```
//!
//! | field      | what                                                     |
//! |------------|----------------------------------------------------------|
//! | `wall`     | two readings in a row of the wall clock (`SystemTime`), in ns since the Unix epoch (`-` before a value before it) |
//! | `mono`     | two readings in a row of `wasi:clocks/monotonic-clock.now`, in ns |
//! | `random`   | 32 bytes of `wasi:random/random.get-random-bytes`, 64 hex digits |
//! | `insecure` | 8 bytes of `wasi:random/insecure.get-insecure-random-bytes`, 16 hex digits |
//! | `nan`      | the bits, in hex, of `f32::from_bits(0x7fc0_0001) + 1.0` and of `f64::from_bits(0x7ff8_0000_0000_0001) + 1.0`: NaNs whose payload the hardware chooses (kept on x86-64; canonical, `7fc00000` and `7ff8000000000000`, when the host canonicalizes NaNs) |
//! | `input`    | the record, byte for byte                                |
//!
//! Two readings of each clock show the step between calls: a fixed one
//! under `--deterministic`.
//!
//! Build: `cargo build --release --target wasm32-wasip2 -p clocks`.

// The `plugin` world, plus the WASI interfaces `std` does not expose. They
// are declared as WASI 0.2.0 has them, whole: wasi-libc's own copies are
// merged with these, and the two must agree.
wit_bindgen::generate!({
    inline: r#"
        package sandmap:clocks;

        world clocks {
            include sandmap:plugin/plugin@0.1.0;
            import wasi:clocks/monotonic-clock@0.2.0;
            import wasi:random/random@0.2.0;
            import wasi:random/insecure@0.2.0;
        }

        package wasi:io@0.2.0 {
            interface poll {
                resource pollable {
                    ready: func() -> bool;
                    block: func();
                }
                poll: func(in: list<borrow<pollable>>) -> list<u32>;
            }
        }

        package wasi:clocks@0.2.0 {
            interface monotonic-clock {
                use wasi:io/poll@0.2.0.{pollable};
                type instant = u64;
                type duration = u64;
                now: func() -> instant;
                resolution: func() -> duration;
                subscribe-instant: func(when: instant) -> pollable;
                subscribe-duration: func(when: duration) -> pollable;
            }
        }

        package wasi:random@0.2.0 {
            interface random {
                get-random-bytes: func(len: u64) -> list<u8>;
                get-random-u64: func() -> u64;
            }
            interface insecure {
                get-insecure-random-bytes: func(len: u64) -> list<u8>;
                get-insecure-random-u64: func() -> u64;
            }
        }
    "#,
    path: "../../wit",
    world: "sandmap:clocks/clocks",
    generate_all,
});

use exports::sandmap::plugin::mapper::Guest;
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};
use wasi::clocks::monotonic_clock;
use wasi::random::{insecure, random};

struct Clocks;

impl Guest for Clocks {
    fn map(input: Vec<u8>) -> Result<Vec<u8>, String> {
        let (wall1, wall2) = (wall_ns(), wall_ns());
        let (mono1, mono2) = (monotonic_clock::now(), monotonic_clock::now());
        let nan32 = (black_box(f32::from_bits(0x7fc0_0001)) + 1.0).to_bits();
        let nan64 = (black_box(f64::from_bits(0x7ff8_0000_0000_0001)) + 1.0).to_bits();
        let mut line = format!(
            "wall={wall1},{wall2} mono={mono1},{mono2} random={} insecure={} \
             nan={nan32:08x},{nan64:016x} input=",
            hex(&random::get_random_bytes(32)),
            hex(&insecure::get_insecure_random_bytes(8)),
        )
        .into_bytes();
        line.extend_from_slice(&input);
        Ok(line)
    }
}

/// The wall clock in ns since the Unix epoch, `-` before it if earlier.
fn wall_ns() -> String {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => since.as_nanos().to_string(),
        Err(e) => format!("-{}", e.duration().as_nanos()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, byte| {
        write!(out, "{byte:02x}").unwrap();
        out
    })
}

export!(Clocks);
