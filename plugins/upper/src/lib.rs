//! `upper`: the example mapper plugin. It returns each record with ASCII
//! letters uppercased; an empty record fails with `err("empty record")`.
//!
//! Build: `cargo build --release --target wasm32-wasip2 -p upper`.

wit_bindgen::generate!({ world: "plugin", path: "../../wit" });

use exports::sandmap::plugin::mapper::Guest;

struct Upper;

impl Guest for Upper {
    fn map(mut input: Vec<u8>) -> Result<Vec<u8>, String> {
        if input.is_empty() {
            return Err("empty record".into());
        }
        uppercase(&mut input);
        Ok(input)
    }
}

/// The work itself, compiled with WebAssembly SIMD so that the loop takes
/// 16 bytes at a time (every engine sandmap runs on has SIMD; a record is
/// usually short, so this is most of the plugin's own time).
#[target_feature(enable = "simd128")]
fn uppercase(bytes: &mut [u8]) {
    bytes.make_ascii_uppercase();
}

export!(Upper);
