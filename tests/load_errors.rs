//! End-to-end tests of what is refused before any record is read: exit 2,
//! one line on stderr, never a panic.

mod common;

use common::*;

fn assert_refused(run: &Run) {
    assert_eq!(run.code(), Some(2), "stderr: {}", run.stderr());
    run.assert_no_panic();
    assert_eq!(
        run.stderr().lines().count(),
        1,
        "one line: {}",
        run.stderr()
    );
    assert!(run.stdout().is_empty());
}

#[test]
fn garbage_bytes_are_refused() {
    let scratch = Scratch::new();
    let garbage = scratch.write("garbage.wasm", b"\x7fELF this is not wasm \x00\x01\x02");
    assert_refused(&run(&["run", garbage.to_str().unwrap()], b"x\n"));
    let bad_magic = scratch.write("bad.wasm", b"\0asm\x01\0\0\0\x99\x99");
    assert_refused(&run(&["run", bad_magic.to_str().unwrap()], b"x\n"));
    let bad_text = scratch.write("bad.wat", b"(module (func $f (result i32)))");
    assert_refused(&run(&["run", bad_text.to_str().unwrap()], b"x\n"));
}

#[test]
fn a_component_without_the_mapper_export_is_refused() {
    let result = run(&["run", plugins::WRONG_EXPORTS_WAT], b"x\n");
    assert_refused(&result);
    // The line names what is missing.
    assert!(
        result.stderr().contains("sandmap:plugin/mapper"),
        "{}",
        result.stderr()
    );
}

#[test]
fn a_core_module_without_start_is_refused() {
    let result = run(&["run", plugins::NO_START_WAT], b"x\n");
    assert_refused(&result);
    assert!(result.stderr().contains("_start"), "{}", result.stderr());
}

#[test]
fn missing_files_are_refused() {
    assert_refused(&run(&["run", "/no/such/plugin.wasm"], b"x\n"));
    assert_refused(&run(&["run", plugins::UPPER, "/no/such/input.txt"], b""));
    let scratch = Scratch::new();
    assert_refused(&run(
        &["run", plugins::UPPER, scratch.dir().to_str().unwrap()],
        b"",
    ));
}

#[test]
fn a_refused_plugin_does_not_touch_the_output_file() {
    let scratch = Scratch::new();
    let out = scratch.write("out.txt", b"precious\n");
    let result = run(
        &["run", "/no/such/plugin.wasm", "-o", out.to_str().unwrap()],
        b"x\n",
    );
    assert_refused(&result);
    assert_eq!(std::fs::read_to_string(out).unwrap(), "precious\n");
}

#[test]
fn bad_option_values_are_usage_errors() {
    for args in [
        &["run", plugins::UPPER, "--timeout", "soon"][..],
        &["run", plugins::UPPER, "--max-memory", "lots"][..],
        &["run", plugins::UPPER, "--jobs", "0"][..],
        &["run", plugins::UPPER, "--env", "=x"][..],
        &["run", plugins::UPPER, "--dir", "/no/such/dir"][..],
    ] {
        let result = run(args, b"x\n");
        assert_eq!(result.code(), Some(2), "{args:?}: {}", result.stderr());
        result.assert_no_panic();
    }
}
