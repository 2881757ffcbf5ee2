//! Builds the test plugins of `plugins/` and writes `artifacts.rs`: one
//! `pub const NAME: &str` per plugin, the absolute path of its `.wasm` (or,
//! for the hand-written ones, of its `.wat` in the source tree).
//!
//! The Rust plugins are their own cargo workspace, built for WebAssembly by
//! a nested `cargo build` into a target directory under `OUT_DIR`. That
//! needs the `wasm32-wasip1` and `wasm32-wasip2` targets installed.

use std::env;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[path = "fuzz_corpus.rs"]
mod fuzz_corpus;

/// A plugin crate of the `plugins` workspace.
struct RustPlugin {
    constant: &'static str,
    package: &'static str,
    target: &'static str,
    /// The file cargo writes: the package name for a binary, with `_` for
    /// `-` for a `cdylib`.
    file: &'static str,
    doc: &'static str,
}

/// A hand-written plugin in WebAssembly text, used straight from the source
/// tree.
struct WatPlugin {
    constant: &'static str,
    /// Under `plugins/`.
    path: &'static str,
    doc: &'static str,
}

const RUST_PLUGINS: &[RustPlugin] = &[
    RustPlugin {
        constant: "UPPER",
        package: "upper",
        target: "wasm32-wasip2",
        file: "upper.wasm",
        doc: "Mapper component: ASCII-uppercases each record; an empty record fails with \
              `err(\"empty record\")`.",
    },
    RustPlugin {
        constant: "HOSTILE",
        package: "hostile",
        target: "wasm32-wasip2",
        file: "hostile.wasm",
        doc: "Mapper component that misbehaves on request (`spin`, `sleep`, `bomb`, `recurse`, \
              `big`, `panic`, `err`, `count`, `flood`, `passwd`, `ls`, `env`, `home`, `path`, \
              `tcp`, `ansi`, `randbomb`, `read:FILE`, `write:FILE`, `getenv:NAME`, `bigerr:MiB`, \
              `bigout:MiB`, `busy:MS`, `grow:MiB`, `exit:N`); any other record comes back \
              unchanged.",
    },
    RustPlugin {
        constant: "HASH",
        package: "hash",
        target: "wasm32-wasip2",
        file: "hash.wasm",
        doc: "Mapper component for benchmarks: 20,000 rounds of an integer hash per record, \
              output as 8 hex digits (`\"hello\"` → `df38ef90`).",
    },
    RustPlugin {
        constant: "ECHO",
        package: "echo",
        target: "wasm32-wasip1",
        file: "echo.wasm",
        doc: "Command core module (wasip1): copies stdin to stdout byte for byte.",
    },
    RustPlugin {
        constant: "HOSTILE_COMMAND",
        package: "hostile-command",
        target: "wasm32-wasip1",
        file: "hostile-command.wasm",
        doc: "Command core module (wasip1) that misbehaves on request (`exit:N`, `spin`, \
              `sleep`, `flood`, `stderr-flood`, `passwd`, `argv`, `flood-forever`, `fsops:DIR`, \
              `write:PATH`, `mkfile:PATH`, `symlink-escape:DIR`, `readfile:PATH`); otherwise \
              echoes stdin.",
    },
    RustPlugin {
        constant: "ECHO_COMPONENT",
        package: "echo",
        target: "wasm32-wasip2",
        file: "echo.wasm",
        doc: "Command component (`wasi:cli/run`): the [`ECHO`] program built for wasip2.",
    },
    RustPlugin {
        constant: "HOSTILE_COMMAND_COMPONENT",
        package: "hostile-command",
        target: "wasm32-wasip2",
        file: "hostile-command.wasm",
        doc: "Command component (`wasi:cli/run`): the [`HOSTILE_COMMAND`] program built for \
              wasip2.",
    },
    RustPlugin {
        constant: "CLOCKS",
        package: "clocks",
        target: "wasm32-wasip2",
        file: "clocks.wasm",
        doc: "Mapper component for `--deterministic`: one line per record, `wall=W1,W2 \
              mono=M1,M2 random=<64 hex> insecure=<16 hex> nan=<f32 bits>,<f64 bits> \
              input=RECORD` (two readings of each clock, WASI random bytes, and NaNs whose \
              payload the hardware picks).",
    },
];

const WAT_PLUGINS: &[WatPlugin] = &[
    WatPlugin {
        constant: "UPPER_WAT",
        path: "upper-wat/upper.wat",
        doc: "Mapper component in WebAssembly text, the same behaviour as [`UPPER`]; imports \
              nothing.",
    },
    WatPlugin {
        constant: "ECHO_WAT",
        path: "echo-wat/echo.wat",
        doc: "Command core module in WebAssembly text, the same behaviour as [`ECHO`].",
    },
    WatPlugin {
        constant: "STATEFUL_COMMAND_WAT",
        path: "stateful-command/stateful.wat",
        doc: "Command core module that reports the state it starts from (`0fresh09:RECORD` when \
              fresh), then changes a global, its data, 72 runs of pages and, by the record's first \
              byte, grows its memory (`g`), exits 3 (`x`) or 0 (`e`), traps (`t`) or spins \
              (`s`).",
    },
    WatPlugin {
        constant: "STATEFUL_MAPPER_WAT",
        path: "stateful-mapper/stateful.wat",
        doc: "Mapper component that returns the state it starts from (`0fresh09:RECORD` when \
              fresh), then changes a global, its data, 72 runs of pages and, by the record's first \
              byte, grows its memory (`g`), traps (`t`), fails with err `no` (`e`), spins (`s`), \
              keeps a handle to stdout (`h`) or takes one and drops it (`d`).",
    },
    WatPlugin {
        constant: "WRONG_EXPORTS_WAT",
        path: "wrong-exports/wrong.wat",
        doc: "A valid component exporting neither the mapper nor `wasi:cli/run`: must be \
              refused.",
    },
    WatPlugin {
        constant: "NO_START_WAT",
        path: "no-start/module.wat",
        doc: "A valid core module without `_start`: must be refused.",
    },
    WatPlugin {
        constant: "TWO_MEMORIES_WAT",
        path: "two-memories/two-memories.wat",
        doc: "Command core module with two memories: `_start` grows each to ~62.6 MiB (~125 MiB \
              in all), then prints `ok\\n`; `memory` under `--max-memory 64MiB`.",
    },
    WatPlugin {
        constant: "STDOUT_FLOOD_WAT",
        path: "stdout-flood/flood.wat",
        doc: "Command core module whose `_start` writes 64 KiB to stdout forever, ignoring \
              failed writes.",
    },
    WatPlugin {
        constant: "BLOCK_AT_START_WAT",
        path: "block-at-start/block.wat",
        doc: "Mapper component whose core start function blocks in WASI (a one-hour \
              `subscribe-duration` pollable): instantiation never ends by itself.",
    },
    WatPlugin {
        constant: "START_SPIN_WAT",
        path: "start-spin/spin.wat",
        doc: "Mapper component whose core start function loops forever, no host call; \
              imports nothing.",
    },
    WatPlugin {
        constant: "EVIL_NAMES_WAT",
        path: "evil-names/evil.wat",
        doc: "Command core module whose `_start` does nothing, exporting functions named with \
              ESC/OSC sequences, U+202E, U+009B, LF and CR: `inspect` must escape them.",
    },
    WatPlugin {
        constant: "SHARED_MEMORY_WAT",
        path: "shared-memory/shared.wat",
        doc: "Command core module with a shared memory (threads proposal): must be refused; \
              if run, prints `ok\\n`.",
    },
    WatPlugin {
        constant: "MULTI_INSTANCE_WAT",
        path: "multi-instance/multi.wat",
        doc: "Mapper component of six core instances with a memory each: each `map` grows \
              every one by 12.5 MiB (75 MiB in all) and returns `ok`; `memory` under \
              `--max-memory 32MiB`.",
    },
    WatPlugin {
        constant: "MEMORY_AND_TABLE_WAT",
        path: "memory-and-table/memory-and-table.wat",
        doc: "Command core module: `_start` grows its memory to 63.4 MiB and a `funcref` table \
              to 256 Ki elements, then prints `ok\\n`; `memory` under `--max-memory 64MiB`.",
    },
    WatPlugin {
        constant: "POST_RETURN_TRAP_WAT",
        path: "post-return-trap/post-return.wat",
        doc: "Mapper component whose `map` returns the input and whose post-return function \
              traps: the instance is broken after every record; imports nothing.",
    },
];

/// Variables that cargo, or the user, set for the outer build and that
/// would change the nested one: flags meant for the host target, another
/// target directory or target, profile overrides, clippy's wrapper.
///
/// `CARGO_MAKEFLAGS` is kept on purpose: it hands the nested cargo the outer
/// build's jobserver, so both share one budget of parallel jobs instead of
/// each running as many as there are cores.
const REMOVED_VARS: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "RUSTDOCFLAGS",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_BUILD_RUSTDOCFLAGS",
    "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
];
/// `CARGO_PROFILE_*` (profile overrides) and `CARGO_TARGET_*` (the target
/// directory, and linkers, runners and flags per target).
const REMOVED_PREFIXES: &[&str] = &["CARGO_PROFILE_", "CARGO_TARGET_"];

fn main() {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"));
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR is set"));
    let root = canonical(&manifest_dir.join("../.."));
    let plugins = root.join("plugins");

    rerun_if_changed(&root.join("wit"));
    rerun_if_changed(&plugins.join("Cargo.toml"));
    rerun_if_changed(&plugins.join("Cargo.lock"));
    for plugin in RUST_PLUGINS {
        rerun_if_changed(&plugins.join(plugin.package));
    }

    let target_dir = out_dir.join("plugins-target");
    for target in ["wasm32-wasip2", "wasm32-wasip1"] {
        check_target_installed(target);
        let packages: Vec<_> = RUST_PLUGINS
            .iter()
            .filter(|plugin| plugin.target == target)
            .map(|plugin| plugin.package)
            .collect();
        cargo_build(&plugins, &target_dir, target, &packages);
    }

    let mut code = String::new();
    for plugin in RUST_PLUGINS {
        let path = target_dir
            .join(plugin.target)
            .join("release")
            .join(plugin.file);
        if !path.is_file() {
            fail(&format!(
                "the build of `{}` succeeded but did not make {}",
                plugin.package,
                path.display()
            ));
        }
        push_constant(&mut code, plugin.constant, plugin.doc, &path);
    }
    for plugin in WAT_PLUGINS {
        let path = canonical(&plugins.join(plugin.path));
        rerun_if_changed(&path);
        push_constant(&mut code, plugin.constant, plugin.doc, &path);
    }
    let corpus = out_dir.join("fuzz");
    if let Err(e) = fuzz_corpus::write(&corpus) {
        fail(&format!(
            "cannot write the fuzz corpus to {}: {e}",
            corpus.display()
        ));
    }
    rerun_if_changed(&manifest_dir.join("fuzz_corpus.rs"));
    push_constant(
        &mut code,
        "FUZZ_CORPUS",
        "The folder of random modules for the fuzz test, `seed-N.wasm`.",
        &corpus,
    );
    writeln!(
        code,
        "/// How many seeds the fuzz corpus tried.\npub const FUZZ_SEEDS: u64 = {};",
        fuzz_corpus::SEEDS
    )
    .unwrap();
    let generated = out_dir.join("artifacts.rs");
    if let Err(e) = fs::write(&generated, code) {
        fail(&format!("cannot write {}: {e}", generated.display()));
    }
}

/// `cargo build --release --target TARGET -p ...` in the plugins workspace.
fn cargo_build(plugins: &Path, target_dir: &Path, target: &str, packages: &[&str]) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--release")
        .arg("--locked")
        .arg("--manifest-path")
        .arg(plugins.join("Cargo.toml"))
        .arg("--target")
        .arg(target)
        .arg("--target-dir")
        .arg(target_dir);
    for package in packages {
        cmd.arg("-p").arg(package);
    }
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if REMOVED_VARS.contains(&key)
            || REMOVED_PREFIXES
                .iter()
                .any(|prefix| key.starts_with(prefix))
        {
            cmd.env_remove(key);
        }
    }
    // A build script's stdout is read by cargo as instructions: send the
    // nested build's output to stderr, which cargo shows when this fails.
    cmd.stdout(Stdio::from(io::stderr()));
    eprintln!("running: {cmd:?}");
    let status = match cmd.status() {
        Ok(status) => status,
        Err(e) => fail(&format!("cannot run cargo to build the test plugins: {e}")),
    };
    if !status.success() {
        fail(&format!(
            "building the test plugins for {target} failed ({status}); see above.\n\
             If it says \"can't find crate for `core`\", the target is missing: {INSTALL_TARGETS}"
        ));
    }
}

const INSTALL_TARGETS: &str = "run `rustup target add wasm32-wasip1 wasm32-wasip2`";

/// Fails early, with the command that fixes it, when the standard library
/// of `target` is not installed for the compiler cargo uses.
fn check_target_installed(target: &str) {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"));
    let output = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", target])
        .output();
    let installed = match &output {
        Ok(output) if output.status.success() => {
            let libdir = String::from_utf8_lossy(&output.stdout);
            Path::new(libdir.trim()).is_dir()
        }
        // An unknown target or an old rustc: let the build say what is wrong.
        _ => true,
    };
    if !installed {
        fail(&format!(
            "the Rust target {target} is not installed, and the test plugins are built for it: \
             {INSTALL_TARGETS}"
        ));
    }
}

fn push_constant(code: &mut String, constant: &str, doc: &str, path: &Path) {
    let Some(path) = path.to_str() else {
        fail(&format!("path is not UTF-8: {}", path.display()));
    };
    writeln!(code, "/// {doc}").unwrap();
    writeln!(code, "pub const {constant}: &str = {path:?};").unwrap();
}

fn rerun_if_changed(path: &Path) {
    println!("cargo:rerun-if-changed={}", path.display());
}

fn canonical(path: &Path) -> PathBuf {
    fs::canonicalize(path).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())))
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}
