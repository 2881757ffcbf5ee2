//! `hostile`: a mapper that misbehaves on request, to test sandmap's
//! sandbox and limits. The record names the misbehaviour; any other record
//! is returned unchanged, so one run can mix good and bad records.
//!
//! | record         | behaviour                                              |
//! |----------------|--------------------------------------------------------|
//! | `spin`         | loops forever, no host call (fuel / epoch limits)      |
//! | `sleep`        | blocks in a WASI sleep for an hour (timeout)           |
//! | `bomb`         | grows memory by 1 MiB chunks forever (memory limit)    |
//! | `recurse`      | unbounded non-tail recursion (stack overflow trap)     |
//! | `big`          | returns 8 MiB of `x` (output limit)                    |
//! | `panic`        | panics: a trap                                         |
//! | `err`          | returns `err("requested error")`                       |
//! | `count`        | calls so far on this instance, any record counted      |
//! | `flood`        | 100 MiB to stdout and to stderr, then `flooded`        |
//! | `passwd`       | reads `/etc/passwd` (must fail: no preopen)            |
//! | `ls`           | lists `/` (must fail: no preopen)                      |
//! | `env`          | every env var as `K=V\n` lines (empty: none granted)   |
//! | `home`, `path` | `$HOME`, `$PATH`, or `err("not set")`                  |
//! | `tcp`          | connects to 127.0.0.1:22 (must fail: no network)       |
//! | `read:FILE`    | contents of FILE, or the error text                    |
//! | `getenv:NAME`  | `$NAME`, or `err("not set")`                           |
//! | `write:FILE`   | writes FILE (must fail: grants are read-only)          |
//! | `ansi`         | `err` with terminal escape codes in its message        |
//! | `bigerr:N`     | `err` of N MiB of `e` (error text cap)                 |
//! | `bigout:N`     | N MiB of `x` (output limit, results in flight)         |
//! | `busy:MS`      | computes for MS ms of monotonic time, then `busy`      |
//! | `grow:N`       | holds N MiB, every byte written, then `grew` (stats)   |
//! | `exit:N`       | `std::process::exit(N)` inside `map`                   |
//! | `randbomb`     | asks WASI for 64 KiB of secure random bytes, forever   |
//!
//! `bigerr` and `bigout` build their text once per instance (the last size
//! asked for is kept) and return a copy: the instance then holds about 2N
//! MiB while the host reads the result. `exit:N` goes through
//! `wasi:cli/exit`, which carries only success (N = 0) or failure.
//!
//! Build: `cargo build --release --target wasm32-wasip2 -p hostile`.

// The `plugin` world, plus the WASI interface that `std` does not reach
// (`randbomb`). It is declared as WASI 0.2.0 has it, whole: wasi-libc's
// own copy of it is merged with this one, and the two must agree.
wit_bindgen::generate!({
    inline: r#"
        package sandmap:hostile;

        world hostile {
            include sandmap:plugin/plugin@0.1.0;
            import wasi:random/random@0.2.0;
        }

        package wasi:random@0.2.0 {
            interface random {
                get-random-bytes: func(len: u64) -> list<u8>;
                get-random-u64: func() -> u64;
            }
        }
    "#,
    path: "../../wit",
    world: "sandmap:hostile/hostile",
    generate_all,
});

use exports::sandmap::plugin::mapper::Guest;
use std::hint::black_box;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Calls of `map` on this instance, whatever the record.
static CALLS: AtomicU64 = AtomicU64::new(0);

/// What `flood` writes to each of stdout and stderr: 1,600 writes of 64 KiB.
const FLOOD_CHUNK: usize = 64 << 10;
const FLOOD_WRITES: usize = 1_600;

struct Hostile;

impl Guest for Hostile {
    fn map(input: Vec<u8>) -> Result<Vec<u8>, String> {
        let calls = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
        match input.as_slice() {
            b"spin" => spin(),
            b"sleep" => {
                std::thread::sleep(Duration::from_secs(3600));
                Ok(b"slept".to_vec())
            }
            b"bomb" => bomb(),
            b"recurse" => Ok(recurse(0).to_string().into_bytes()),
            b"big" => Ok(vec![b'x'; 8 << 20]),
            b"panic" => panic!("hostile panic"),
            b"err" => Err("requested error".into()),
            b"count" => Ok(calls.to_string().into_bytes()),
            b"flood" => {
                flood(&mut std::io::stdout().lock(), b'o');
                flood(&mut std::io::stderr().lock(), b'e');
                Ok(b"flooded".to_vec())
            }
            b"passwd" => read("/etc/passwd"),
            b"ls" => ls("/"),
            b"env" => Ok(env()),
            b"home" => getenv("HOME"),
            b"path" => getenv("PATH"),
            b"ansi" => Err("\u{1b}[2J\u{1b}[31mscreen cleared\u{7}".into()),
            b"tcp" => match std::net::TcpStream::connect("127.0.0.1:22") {
                Ok(_) => Ok(b"connected".to_vec()),
                Err(e) => Err(e.to_string()),
            },
            b"randbomb" => randbomb(),
            _ => {
                if let Some(mib) = input.strip_prefix(b"bigerr:") {
                    Err(filled('e', mib)?)
                } else if let Some(mib) = input.strip_prefix(b"bigout:") {
                    Ok(filled('x', mib)?.into_bytes())
                } else if let Some(ms) = input.strip_prefix(b"busy:") {
                    busy(Duration::from_millis(number(ms)?));
                    Ok(b"busy".to_vec())
                } else if let Some(mib) = input.strip_prefix(b"grow:") {
                    let hoard = vec![0xa5u8; mebibytes(mib)?];
                    black_box(&hoard);
                    Ok(b"grew".to_vec())
                } else if let Some(code) = input.strip_prefix(b"exit:") {
                    std::process::exit(number(code)?)
                } else if let Some(path) = input.strip_prefix(b"read:") {
                    read(&String::from_utf8_lossy(path))
                } else if let Some(path) = input.strip_prefix(b"write:") {
                    std::fs::write(String::from_utf8_lossy(path).as_ref(), b"written")
                        .map(|()| b"written".to_vec())
                        .map_err(|e| e.to_string())
                } else if let Some(name) = input.strip_prefix(b"getenv:") {
                    getenv(&String::from_utf8_lossy(name))
                } else {
                    Ok(input)
                }
            }
        }
    }
}

/// Computes forever without calling the host.
fn spin() -> ! {
    let mut x = 0u64;
    loop {
        x = black_box(x.wrapping_add(1));
    }
}

/// Computes, checking the monotonic clock every 10,000 rounds, until `how_long`
/// has passed.
fn busy(how_long: Duration) {
    let start = Instant::now();
    let mut x = 0u64;
    while start.elapsed() < how_long {
        for _ in 0..10_000 {
            x = black_box(x.wrapping_mul(31).wrapping_add(7));
        }
    }
}

/// Asks the host for random bytes in a loop that never ends: nearly all
/// of its time is spent in host calls, not in wasm.
fn randbomb() -> ! {
    loop {
        black_box(wasi::random::random::get_random_bytes(64 << 10));
    }
}

/// `mib` MiB of `letter`. The text is built once per instance for a given
/// (letter, size), and kept for the next call: each call costs one copy.
fn filled(letter: char, mib: &[u8]) -> Result<String, String> {
    static LAST: Mutex<Option<(char, String)>> = Mutex::new(None);
    let len = mebibytes(mib)?;
    let mut last = LAST.lock().unwrap();
    let text = match &mut *last {
        Some((l, text)) if *l == letter && text.len() == len => text,
        slot => {
            // Free the old text before building the new one.
            *slot = None;
            &slot.insert((letter, letter.to_string().repeat(len))).1
        }
    };
    Ok(text.clone())
}

/// A decimal number from a record, or the `err` that says it is not one.
fn number<T: std::str::FromStr>(digits: &[u8]) -> Result<T, String> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|digits| digits.parse().ok())
        .ok_or_else(|| format!("not a number: {}", String::from_utf8_lossy(digits)))
}

/// A size in MiB from a record, in bytes.
fn mebibytes(digits: &[u8]) -> Result<usize, String> {
    number::<usize>(digits)?
        .checked_mul(1 << 20)
        .ok_or_else(|| "size too large".into())
}

/// Grows one buffer by 1 MiB at a time, writing every byte, until the
/// allocation fails (an abort, so a trap) or a limit stops it.
fn bomb() -> ! {
    let mut hoard: Vec<u8> = Vec::new();
    loop {
        hoard.resize(hoard.len() + (1 << 20), 0xa5);
        black_box(&mut hoard);
    }
}

/// Recurses without end until the wasm call stack is exhausted. The work
/// after the call keeps it from becoming a loop, and `black_box` keeps the
/// exit condition opaque. The frame is kept small on purpose, so that the
/// engine's stack limit is hit before the guest's own shadow stack (a
/// region of linear memory) overflows.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    if depth == black_box(u64::MAX) {
        return 0;
    }
    recurse(depth + 1).wrapping_mul(31).wrapping_add(depth)
}

fn flood(out: &mut impl Write, byte: u8) {
    let chunk = vec![byte; FLOOD_CHUNK];
    for _ in 0..FLOOD_WRITES {
        let _ = out.write_all(&chunk);
    }
    let _ = out.flush();
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| e.to_string())
}

fn ls(dir: &str) -> Result<Vec<u8>, String> {
    let names = std::fs::read_dir(dir)
        .and_then(|entries| {
            entries
                .map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned()))
                .collect::<std::io::Result<Vec<_>>>()
        })
        .map_err(|e| e.to_string())?;
    Ok(names.join("\n").into_bytes())
}

fn env() -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in std::env::vars_os() {
        out.extend_from_slice(key.as_encoded_bytes());
        out.push(b'=');
        out.extend_from_slice(value.as_encoded_bytes());
        out.push(b'\n');
    }
    out
}

fn getenv(name: &str) -> Result<Vec<u8>, String> {
    std::env::var_os(name)
        .map(|value| value.as_encoded_bytes().to_vec())
        .ok_or_else(|| "not set".into())
}

export!(Hostile);
