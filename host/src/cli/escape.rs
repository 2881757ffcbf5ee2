//! Escaping for the terminal: the library's functions, under the names
//! the commands use.

pub use sandmap::escape::{for_terminal, json_for_terminal, output_for_terminal};
