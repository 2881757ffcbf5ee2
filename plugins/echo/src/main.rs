//! `echo`: the simplest command plugin. It copies stdin to stdout byte for
//! byte and does nothing else.
//!
//! Build: `cargo build --release --target wasm32-wasip1 -p echo`.

use std::io::{self, Write};

fn main() -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    io::copy(&mut io::stdin().lock(), &mut stdout)?;
    stdout.flush()
}
