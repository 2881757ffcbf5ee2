//! End-to-end tests of `sandmap inspect`, `sandmap compile` and the
//! compile cache.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;
use sandmap::{CacheOutcome, CompileCache, Pool};

fn inspect_json(plugin: &str) -> serde_json::Value {
    let result = run(&["inspect", plugin, "--format", "json"], b"");
    assert_eq!(result.code(), Some(0), "{}", result.stderr());
    serde_json::from_str(&result.stdout()).expect("inspect prints JSON")
}

fn sandbox_of<'a>(report: &'a serde_json::Value, prefix: &str) -> Vec<&'a str> {
    report["imports"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["name"].as_str().unwrap().starts_with(prefix))
        .map(|i| i["sandbox"].as_str().unwrap())
        .collect()
}

#[test]
fn inspect_tells_kind_imports_and_what_the_sandbox_denies() {
    let mapper = inspect_json(plugins::HOSTILE);
    assert_eq!(mapper["kind"], "mapper");
    assert_eq!(mapper["form"], "component");
    assert_eq!(mapper["exports"][0], "sandmap:plugin/mapper@0.1.0");
    let sockets = sandbox_of(&mapper, "wasi:sockets/");
    assert!(!sockets.is_empty() && sockets.iter().all(|s| s.starts_with("denied")));
    assert!(
        sandbox_of(&mapper, "wasi:filesystem/")
            .iter()
            .all(|s| s.contains("--dir"))
    );

    let command = inspect_json(plugins::ECHO);
    assert_eq!(command["kind"], "command");
    assert_eq!(command["form"], "core module");

    let wat = inspect_json(plugins::UPPER_WAT);
    assert_eq!(wat["kind"], "mapper");
    assert_eq!(wat["imports"].as_array().unwrap().len(), 0);

    // How isolated records run: on a kept instance put back after each
    // (its added export not listed), or on a fresh one (a mapper that can
    // wait on the host).
    let kept = inspect_json(plugins::STATEFUL_MAPPER_WAT);
    let instances = kept["instances"].as_str().unwrap();
    assert!(
        instances.contains("with --isolate, put back"),
        "{instances}"
    );
    assert_eq!(
        kept["exports"],
        serde_json::json!(["sandmap:plugin/mapper@0.1.0"])
    );
    let instances = mapper["instances"].as_str().unwrap();
    assert!(
        instances.contains("fresh per record with --isolate"),
        "{instances}"
    );

    let text = run(&["inspect", plugins::UPPER], b"");
    assert_eq!(text.code(), Some(0));
    assert!(text.stdout().contains("mapper"));

    let refused = run(&["inspect", plugins::WRONG_EXPORTS_WAT], b"");
    assert_eq!(refused.code(), Some(2));
    refused.assert_no_panic();
}

#[test]
fn compiled_code_runs_only_with_the_flag_and_matching_settings() {
    let scratch = Scratch::new();
    let out = scratch.path("upper.cwasm");
    let out = out.to_str().unwrap();
    assert_eq!(
        run(&["compile", plugins::UPPER, "-o", out], b"").code(),
        Some(0)
    );

    let refused = run(&["run", out], b"hi\n");
    assert_eq!(
        refused.code(),
        Some(2),
        "precompiled code needs --allow-precompiled"
    );
    refused.assert_no_panic();

    let allowed = run(&["run", out, "--allow-precompiled", "-j", "2"], b"hi\n");
    assert_eq!(ok_stdout(&allowed), "HI\n");

    // Code compiled without fuel metering cannot enforce a fuel budget.
    let mismatch = run(
        &["run", out, "--allow-precompiled", "--fuel", "1000"],
        b"hi\n",
    );
    assert_eq!(mismatch.code(), Some(2));
    let fueled = scratch.path("fueled.cwasm");
    let fueled = fueled.to_str().unwrap();
    assert_eq!(
        run(&["compile", plugins::HOSTILE, "-o", fueled, "--fuel"], b"").code(),
        Some(0)
    );
    let result = run(
        &[
            "run",
            fueled,
            "--allow-precompiled",
            "--fuel",
            "1000000",
            "--format",
            "jsonl",
        ],
        b"ok\nspin\n",
    );
    assert_eq!(kinds(&result.jsonl()), [(1, "fuel".to_string())]);
}

#[test]
fn compile_checks_what_run_would_and_its_output_runs_under_a_memory_cap() {
    let scratch = Scratch::new();
    // A plugin with no entry point is refused now, not when run.
    let wrong = scratch.path("wrong.cwasm");
    let result = run(
        &[
            "compile",
            plugins::WRONG_EXPORTS_WAT,
            "-o",
            wrong.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(result.code(), Some(2));
    assert!(
        !wrong.exists(),
        "a .cwasm was written for a plugin run refuses"
    );
    // Compiled code loads under a --max-memory of its own.
    let out = scratch.path("upper.cwasm");
    let out = out.to_str().unwrap();
    assert_eq!(
        run(&["compile", plugins::UPPER, "-o", out], b"").code(),
        Some(0)
    );
    let result = run(
        &["run", out, "--allow-precompiled", "--max-memory", "8MiB"],
        b"capped\n",
    );
    assert_eq!(ok_stdout(&result), "CAPPED\n");
}

#[test]
fn the_cache_stores_once_then_hits_and_survives_damage() {
    let scratch = Scratch::new();
    let cache = CompileCache::with_key_file(scratch.path("cache"), scratch.path("key")).unwrap();
    let load = |fuel: bool| {
        let mut builder = Pool::builder(plugins::UPPER).jobs(1).cache(cache.clone());
        if fuel {
            builder = builder.fuel(1000);
        }
        builder.build().unwrap().plugin().cache
    };
    assert_eq!(load(false), Some(CacheOutcome::Stored));
    assert_eq!(load(false), Some(CacheOutcome::Hit));
    let mut entries: Vec<_> = std::fs::read_dir(cache.dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    // The compiled code, and the verdict on whether the plugin's code
    // leaves its tables alone (see `snapshot.rs`): the code first.
    assert_eq!(entries.len(), 2);
    entries.sort_by_key(|path| std::cmp::Reverse(std::fs::metadata(path).unwrap().len()));
    let mode = std::fs::metadata(cache.dir()).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o077,
        0,
        "a cache directory sandmap makes is private"
    );

    // A damaged entry is recompiled and replaced, not trusted.
    std::fs::write(&entries[0], b"not compiled code").unwrap();
    assert_eq!(load(false), Some(CacheOutcome::Stored));
    assert_eq!(load(false), Some(CacheOutcome::Hit));
    // An entry others could have written is never loaded.
    std::fs::set_permissions(&entries[0], std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_eq!(load(false), Some(CacheOutcome::Stored));

    // Other engine settings are another entry.
    assert_eq!(load(true), Some(CacheOutcome::Stored));
    assert_eq!(load(true), Some(CacheOutcome::Hit));
}

#[test]
fn the_cli_uses_the_cache_dir_and_no_cache_skips_it() {
    let scratch = Scratch::new();
    let dir = scratch.path("cli-cache");
    let dir = dir.to_str().unwrap();
    let result = run(&["run", plugins::UPPER, "--cache-dir", dir], b"x\n");
    assert_eq!(ok_stdout(&result), "X\n");
    // The compiled code, and the verdict on its code (see `snapshot.rs`).
    assert_eq!(std::fs::read_dir(dir).unwrap().count(), 2);

    let other = scratch.path("unused");
    let result = sandmap()
        .args(["run", plugins::UPPER, "--no-cache"])
        .env("SANDMAP_CACHE_DIR", &other)
        .stdin(std::fs::File::open(scratch.write("in.txt", b"y\n")).unwrap())
        .output()
        .unwrap();
    assert_eq!(result.stdout, b"Y\n");
    assert!(!other.exists(), "--no-cache wrote a cache");
}

#[test]
fn a_cache_dir_that_cannot_be_used_is_an_error_not_ignored() {
    // A cache directory that would hold its own key (here: the
    // configuration directory itself) is refused, by name, rather than
    // silently replaced by no cache.
    let scratch = Scratch::new();
    let dir = scratch.path("keyless");
    std::fs::create_dir_all(&dir).unwrap();
    let result = sandmap()
        .args(["run", plugins::UPPER, "--cache-dir"])
        .arg(&dir)
        .env("XDG_CONFIG_HOME", &dir)
        .stdin(std::fs::File::open(scratch.write("in.txt", b"y\n")).unwrap())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("keyless"), "{stderr}");
    assert!(result.stdout.is_empty());
}
