//! `hostile-command`: a command plugin (plain `main`, stdin → stdout) that
//! misbehaves on request, to test how sandmap runs commands. It reads all
//! of stdin, the record, and acts on it (one trailing `\n` is ignored when
//! matching, for trying it by hand):
//!
//! | record         | behaviour                                              |
//! |----------------|--------------------------------------------------------|
//! | `exit:N`       | writes `failing with N\n` to stderr, exits with code N |
//! | `spin`         | loops forever                                          |
//! | `sleep`        | sleeps for an hour                                     |
//! | `flood`        | writes 100 MiB to stdout, exits 0                      |
//! | `stderr-flood` | writes 100 MiB to stderr, exits 1                      |
//! | `passwd`       | prints `/etc/passwd`, or the error to stderr and exits 2 |
//! | anything else  | echoes stdin to stdout                                 |
//!
//! wasmtime accepts exit codes 0 to 125 only: `exit:126` and above trap.
//!
//! Build: `cargo build --release --target wasm32-wasip1 -p hostile-command`.

use std::hint::black_box;
use std::io::{self, Read, Write};
use std::process::exit;
use std::time::Duration;

/// What a flood writes: 1,600 writes of 64 KiB.
const FLOOD_CHUNK: usize = 64 << 10;
const FLOOD_WRITES: usize = 1_600;

fn main() {
    let mut input = Vec::new();
    if let Err(e) = io::stdin().read_to_end(&mut input) {
        eprintln!("reading stdin: {e}");
        exit(2);
    }
    let record = input.strip_suffix(b"\n").unwrap_or(&input);
    match record {
        b"spin" => {
            let mut x = 0u64;
            loop {
                x = black_box(x.wrapping_add(1));
            }
        }
        b"sleep" => std::thread::sleep(Duration::from_secs(3600)),
        b"flood" => flood(&mut io::stdout().lock()),
        b"stderr-flood" => {
            flood(&mut io::stderr().lock());
            exit(1);
        }
        b"passwd" => match std::fs::read("/etc/passwd") {
            Ok(contents) => write_stdout(&contents),
            Err(e) => {
                eprintln!("cannot read /etc/passwd: {e}");
                exit(2);
            }
        },
        _ => match exit_code(record) {
            Some(code) => {
                eprintln!("failing with {code}");
                exit(code);
            }
            None => write_stdout(&input),
        },
    }
}

/// The N of an `exit:N` record.
fn exit_code(record: &[u8]) -> Option<i32> {
    std::str::from_utf8(record.strip_prefix(b"exit:")?)
        .ok()?
        .parse()
        .ok()
}

fn flood(out: &mut impl Write) {
    let chunk = vec![b'x'; FLOOD_CHUNK];
    for _ in 0..FLOOD_WRITES {
        let _ = out.write_all(&chunk);
    }
    let _ = out.flush();
}

fn write_stdout(bytes: &[u8]) {
    let mut stdout = io::stdout().lock();
    if stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .is_err()
    {
        exit(1);
    }
}
