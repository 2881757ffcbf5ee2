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
//!
//! Build: `cargo build --release --target wasm32-wasip2 -p hostile`.

wit_bindgen::generate!({ world: "plugin", path: "../../wit" });

use exports::sandmap::plugin::mapper::Guest;
use std::hint::black_box;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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
            _ => {
                if let Some(path) = input.strip_prefix(b"read:") {
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
