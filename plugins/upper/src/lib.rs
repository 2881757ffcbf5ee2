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
        input.make_ascii_uppercase();
        Ok(input)
    }
}

export!(Upper);
