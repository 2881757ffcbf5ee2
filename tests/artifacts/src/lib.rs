//! Paths of the test plugins of `plugins/`, for sandmap's tests and
//! benchmarks: one `&str` constant per plugin, an absolute path.
//!
//! `build.rs` builds the Rust plugins for `wasm32-wasip2` (mappers) and
//! `wasm32-wasip1` (commands) into this crate's `OUT_DIR`; the WebAssembly
//! text plugins (`*_WAT`) point into the source tree.

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));
