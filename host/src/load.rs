//! From bytes to compiled code: WebAssembly text is parsed, precompiled
//! code is loaded only when allowed, and everything else is compiled (or
//! found in the compile cache).

use std::borrow::Cow;
use std::sync::Arc;

use wasmtime::component::Component;
use wasmtime::{Module, Precompiled};

use crate::build_error::{LoadError, WasmError};
use crate::cache::CacheOutcome;
use crate::component_snapshot::plan_component;
use crate::core_edit::code_is_restorable;
use crate::engine::Engine;
use crate::snapshot::{Snapshot, plan};
use crate::source::{LoadOptions, PluginSource};

/// Compiled code of either form.
pub(crate) enum Code {
    /// A component, with how to put an instance of it back to its fresh
    /// state when it qualifies (see `component_snapshot.rs`).
    Component(Component, Option<Arc<Snapshot>>),
    /// A core module, with how to put an instance of it back to its fresh
    /// state when it qualifies (see `snapshot.rs`).
    Module(Module, Option<Arc<Snapshot>>),
}

/// Compiled code and what the cache did for it.
pub(crate) struct Loaded {
    pub code: Code,
    pub cache: Option<CacheOutcome>,
}

/// Compiles (or loads) `bytes`.
pub(crate) fn compile(
    engine: &Engine,
    source: &PluginSource,
    bytes: &[u8],
    options: &LoadOptions,
) -> Result<Loaded, LoadError> {
    let name = source.name();
    let invalid = |e| LoadError::Invalid {
        name: name.to_string(),
        source: WasmError::new(e),
    };
    let wasm = engine.wasmtime();
    if let Some(kind) = wasmtime::Engine::detect_precompiled(bytes) {
        let named_cwasm = source
            .file()
            .is_none_or(|path| path.extension().is_some_and(|e| e == "cwasm"));
        if !options.allow_precompiled || !named_cwasm {
            return Err(LoadError::PrecompiledRefused {
                name: name.to_string(),
            });
        }
        // SAFETY: the caller allowed precompiled code, which says these
        // bytes come from a trusted `sandmap compile`; wasmtime still checks
        // the header and that they were compiled with these settings.
        let code = match kind {
            Precompiled::Component => {
                let component = unsafe { Component::deserialize(wasm, bytes) }.map_err(invalid)?;
                Code::Component(component, None)
            }
            Precompiled::Module => {
                let module = unsafe { Module::deserialize(wasm, bytes) }.map_err(invalid)?;
                // Without the module's bytes there is no telling whether
                // its state can be put back: fresh instances.
                Code::Module(module, None)
            }
        };
        return Ok(Loaded { code, cache: None });
    }
    let binary = to_binary(name, bytes)?;
    check_memory_minimums(name, &binary, engine.settings().max_memory)?;
    let component = wasmparser::Parser::is_component(&binary);
    // A core module whose state can be put back is compiled with its
    // mutable globals exported (the only change), so that they can be; a
    // component, with a function that resets them.
    let restorable = |binary: &[u8]| restorable_code(wasm, options.cache.as_ref(), binary);
    let planned = if component {
        plan_component(&binary, restorable)
    } else {
        plan(&binary, options.dirs_granted, restorable)
    };
    if component && let Some((rewritten, snapshot)) = planned {
        // Should the rewritten component not compile, the plugin is
        // compiled as it is (and its errors, if any, are its own).
        let snapshot = Some(Arc::new(snapshot));
        if let Ok(loaded) = compile_binary(wasm, options, &rewritten, component, snapshot) {
            return Ok(loaded);
        }
        return compile_binary(wasm, options, &binary, component, None).map_err(invalid);
    }
    let (binary, snapshot) = match planned {
        Some((rewritten, snapshot)) => (Cow::Owned(rewritten), Some(Arc::new(snapshot))),
        None => (binary, None),
    };
    compile_binary(wasm, options, &binary, component, snapshot).map_err(invalid)
}

/// Compiles `binary` (or finds it in the cache).
fn compile_binary(
    wasm: &wasmtime::Engine,
    options: &LoadOptions,
    binary: &[u8],
    component: bool,
    snapshot: Option<Arc<Snapshot>>,
) -> wasmtime::Result<Loaded> {
    let Some(cache) = &options.cache else {
        let code = if component {
            Code::Component(Component::from_binary(wasm, binary)?, snapshot)
        } else {
            Code::Module(Module::from_binary(wasm, binary)?, snapshot)
        };
        return Ok(Loaded { code, cache: None });
    };
    let (code, outcome) = if component {
        let (code, outcome) = cache.get_or_compile(
            wasm,
            "component",
            binary,
            || Component::from_binary(wasm, binary),
            Component::serialize,
            // SAFETY: the cache hands back only entries whose MAC proves
            // this user's sandmap wrote them from these very bytes, with
            // an engine of this configuration.
            |code| unsafe { Component::deserialize(wasm, code) },
        )?;
        (Code::Component(code, snapshot), outcome)
    } else {
        let (code, outcome) = cache.get_or_compile(
            wasm,
            "module",
            binary,
            || Module::from_binary(wasm, binary),
            Module::serialize,
            // SAFETY: as for components above.
            |code| unsafe { Module::deserialize(wasm, code) },
        )?;
        (Code::Module(code, snapshot), outcome)
    };
    Ok(Loaded {
        code,
        cache: Some(outcome),
    })
}

/// Whether a module's code leaves its tables and segments alone (see
/// `snapshot.rs`), kept in the compile cache beside its compiled code:
/// reading a large module's code takes longer than loading it.
fn restorable_code(
    engine: &wasmtime::Engine,
    cache: Option<&crate::cache::CompileCache>,
    binary: &[u8],
) -> bool {
    let Some(cache) = cache else {
        return code_is_restorable(binary);
    };
    cache
        .get_or_compile(
            engine,
            "restorable-code",
            binary,
            || Ok(code_is_restorable(binary)),
            |&restorable| Ok(vec![u8::from(restorable)]),
            |stored| match stored {
                [0] => Ok(false),
                [1] => Ok(true),
                _ => Err(wasmtime::Error::msg("not a verdict")),
            },
        )
        .map_or_else(|_| code_is_restorable(binary), |(restorable, _)| restorable)
}

/// Binary wasm as is; WebAssembly text parsed to binary.
fn to_binary<'a>(name: &str, bytes: &'a [u8]) -> Result<Cow<'a, [u8]>, LoadError> {
    if bytes.starts_with(b"\0asm") {
        return Ok(bytes.into());
    }
    let not_wasm = || LoadError::NotWasm {
        name: name.to_string(),
    };
    let text = std::str::from_utf8(bytes).map_err(|_| not_wasm())?;
    let start = text.trim_start();
    if !(start.starts_with('(') || start.starts_with(";;")) {
        return Err(not_wasm());
    }
    wat::parse_str(text).map(Into::into).map_err(|mut e| {
        e.set_path(name);
        LoadError::Text {
            name: name.to_string(),
            message: e
                .to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        }
    })
}

/// Refuses a plugin one of whose memories starts larger than the memory
/// cap: it could never run a record, and wasmtime would report it as an
/// unsupported module rather than as what it is.
fn check_memory_minimums(name: &str, binary: &[u8], max_memory: u64) -> Result<(), LoadError> {
    let mut total: u64 = 0;
    for payload in wasmparser::Parser::new(0).parse_all(binary) {
        // Malformed input is left for wasmtime to report in full.
        let Ok(wasmparser::Payload::MemorySection(memories)) = payload else {
            continue;
        };
        for memory in memories.into_iter().flatten() {
            let page = memory
                .page_size_log2
                .map_or(65536u64, |log2| 1u64 << log2.min(16));
            total = total.saturating_add(memory.initial.saturating_mul(page));
        }
    }
    if total > max_memory {
        return Err(LoadError::TooBig {
            name: name.to_string(),
            what: format!(
                "its memories start at {total} bytes, more than the memory cap of {max_memory} bytes"
            ),
        });
    }
    Ok(())
}
