//! Loading a plugin: read the bytes, tell a component from a core module,
//! compile, check that it has an entry point sandmap can run, and link it
//! against the sandbox's WASI once, ahead of every instance.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Component, ComponentExportIndex, Type};
use wasmtime::{Module, Precompiled};
use wasmtime_wasi::p2::bindings::CommandPre;

use crate::cache::{CacheOutcome, CompileCache};
use crate::engine::Engine;
use crate::error::{LoadError, wasmtime_one_line};
use crate::host::{ComponentState, ModuleState};

/// The interface a mapper component exports.
pub const MAPPER_INTERFACE: &str = "sandmap:plugin/mapper@0.1.0";
/// The function of [`MAPPER_INTERFACE`] sandmap calls once per record.
pub const MAPPER_FUNCTION: &str = "map";
/// The interface (any 0.2.x version) a command component exports.
pub const COMMAND_INTERFACE_PREFIX: &str = "wasi:cli/run@0.2";

/// What kind of plugin was loaded, and so how records are fed to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginKind {
    /// A component exporting [`MAPPER_INTERFACE`]: one `map` call per
    /// record, instance reused across records.
    Mapper,
    /// A component exporting `wasi:cli/run`: one run per record, record on
    /// stdin, result on stdout.
    CommandComponent,
    /// A WASI preview 1 core module exporting `_start`: like
    /// [`PluginKind::CommandComponent`].
    CommandModule,
}

impl PluginKind {
    /// Whether records go through stdin/stdout of a fresh instance.
    pub fn is_command(self) -> bool {
        !matches!(self, PluginKind::Mapper)
    }
}

/// How the plugin's bytes are to be treated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Accept precompiled (`.cwasm`) code. Deserializing such bytes is
    /// unsafe unless they were produced by a trusted compile with the same
    /// engine settings; off by default.
    pub allow_precompiled: bool,
    /// Where to keep and find compiled code; `None` compiles every time.
    pub cache: Option<CompileCache>,
}

/// A compiled, linked plugin, ready to be instantiated by any number of
/// workers. Cheap to clone; clones share the compiled code.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<PluginInner>,
}

struct PluginInner {
    path: PathBuf,
    engine: Engine,
    compiled: Compiled,
    size: usize,
    imports: Vec<String>,
    exports: Vec<String>,
    cache: Option<CacheOutcome>,
}

/// The pre-instantiated form of each kind of plugin.
#[derive(Clone)]
pub(crate) enum Compiled {
    Mapper {
        pre: wasmtime::component::InstancePre<ComponentState>,
        map: ComponentExportIndex,
    },
    CommandComponent {
        pre: CommandPre<ComponentState>,
    },
    CommandModule {
        pre: wasmtime::InstancePre<ModuleState>,
    },
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("path", &self.inner.path)
            .field("kind", &self.kind())
            .finish()
    }
}

impl Plugin {
    /// Loads the plugin at `path` (`.wasm` component or core module, or
    /// `.wat` text).
    ///
    /// # Errors
    /// A [`LoadError`] that says, in one line, what is wrong: unreadable
    /// file, not WebAssembly, invalid, no mapper or command entry point, or
    /// imports the sandbox does not provide.
    pub fn load(engine: &Engine, path: &Path, options: LoadOptions) -> Result<Self, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(engine, path, &bytes, options)
    }

    /// Loads a plugin from bytes; `path` is only used in messages.
    ///
    /// # Errors
    /// As for [`Plugin::load`].
    pub fn from_bytes(
        engine: &Engine,
        path: &Path,
        bytes: &[u8],
        options: LoadOptions,
    ) -> Result<Self, LoadError> {
        let invalid = |e: wasmtime::Error| LoadError::Invalid {
            path: path.to_path_buf(),
            message: wasmtime_one_line(&e),
        };
        let wasm = engine.wasmtime();
        let mut cache = None;
        let code = match wasmtime::Engine::detect_precompiled(bytes) {
            Some(kind) => {
                if !options.allow_precompiled {
                    return Err(LoadError::PrecompiledRefused {
                        path: path.to_path_buf(),
                    });
                }
                // SAFETY: the user passed the flag that says these bytes come
                // from a trusted `sandmap compile` (or wasmtime) with the same
                // engine settings; wasmtime still checks the header and the
                // settings it records.
                match kind {
                    Precompiled::Component => Code::Component(
                        unsafe { Component::deserialize(wasm, bytes) }.map_err(invalid)?,
                    ),
                    Precompiled::Module => {
                        Code::Module(unsafe { Module::deserialize(wasm, bytes) }.map_err(invalid)?)
                    }
                }
            }
            None => {
                let binary = to_binary(path, bytes)?;
                let component = wasmparser::Parser::is_component(&binary);
                match (&options.cache, component) {
                    (Some(store), true) => {
                        let (code, outcome) = store.component(wasm, &binary).map_err(invalid)?;
                        cache = Some(outcome);
                        Code::Component(code)
                    }
                    (Some(store), false) => {
                        let (code, outcome) = store.module(wasm, &binary).map_err(invalid)?;
                        cache = Some(outcome);
                        Code::Module(code)
                    }
                    (None, true) => {
                        Code::Component(Component::from_binary(wasm, &binary).map_err(invalid)?)
                    }
                    (None, false) => {
                        Code::Module(Module::from_binary(wasm, &binary).map_err(invalid)?)
                    }
                }
            }
        };
        let (compiled, imports, exports) = match &code {
            Code::Component(component) => {
                let ty = component.component_type();
                (
                    link_component(engine, path, component)?,
                    ty.imports(wasm).map(|(name, _)| name.to_string()).collect(),
                    ty.exports(wasm).map(|(name, _)| name.to_string()).collect(),
                )
            }
            Code::Module(module) => (
                link_module(engine, path, module)?,
                module
                    .imports()
                    .map(|i| format!("{}#{}", i.module(), i.name()))
                    .collect(),
                module.exports().map(|e| e.name().to_string()).collect(),
            ),
        };
        Ok(Plugin {
            inner: Arc::new(PluginInner {
                path: path.to_path_buf(),
                engine: engine.clone(),
                compiled,
                size: bytes.len(),
                imports,
                exports,
                cache,
            }),
        })
    }

    /// The plugin file's size in bytes.
    pub fn size(&self) -> usize {
        self.inner.size
    }

    /// What the plugin imports: interface names (`wasi:cli/stdin@0.2.6`)
    /// for a component, `module#name` for a core module.
    pub fn imports(&self) -> &[String] {
        &self.inner.imports
    }

    /// What the plugin exports, by name.
    pub fn exports(&self) -> &[String] {
        &self.inner.exports
    }

    /// What the compile cache did when this plugin was loaded (`None`
    /// without a cache, or for precompiled code).
    pub fn cache_outcome(&self) -> Option<CacheOutcome> {
        self.inner.cache
    }

    /// What kind of plugin this is.
    pub fn kind(&self) -> PluginKind {
        match self.inner.compiled {
            Compiled::Mapper { .. } => PluginKind::Mapper,
            Compiled::CommandComponent { .. } => PluginKind::CommandComponent,
            Compiled::CommandModule { .. } => PluginKind::CommandModule,
        }
    }

    /// Where the plugin was loaded from.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The engine the plugin was compiled for.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub(crate) fn compiled(&self) -> &Compiled {
        &self.inner.compiled
    }

    /// The name a command plugin sees as `argv[0]`.
    pub(crate) fn program_name(&self) -> String {
        self.inner
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "plugin".to_string())
    }
}

/// Compiles a plugin (`.wasm` or `.wat` bytes; `path` is for messages)
/// ahead of time, for [`LoadOptions::allow_precompiled`] loads with an
/// engine of the same options.
///
/// # Errors
/// When the bytes are not WebAssembly or do not compile.
pub fn precompile(engine: &Engine, path: &Path, bytes: &[u8]) -> Result<Vec<u8>, LoadError> {
    let binary = to_binary(path, bytes)?;
    let wasm = engine.wasmtime();
    let compiled = if wasmparser::Parser::is_component(&binary) {
        wasm.precompile_component(&binary)
    } else {
        wasm.precompile_module(&binary)
    };
    compiled.map_err(|e| LoadError::Invalid {
        path: path.to_path_buf(),
        message: wasmtime_one_line(&e),
    })
}

enum Code {
    Component(Component),
    Module(Module),
}

/// Binary wasm as is; WebAssembly text parsed to binary.
fn to_binary<'a>(path: &Path, bytes: &'a [u8]) -> Result<std::borrow::Cow<'a, [u8]>, LoadError> {
    if bytes.starts_with(b"\0asm") {
        return Ok(bytes.into());
    }
    let text = std::str::from_utf8(bytes).map_err(|_| LoadError::NotWasm {
        path: path.to_path_buf(),
    })?;
    let looks_like_wat = text.trim_start().starts_with('(') || text.trim_start().starts_with(";;");
    if !looks_like_wat {
        return Err(LoadError::NotWasm {
            path: path.to_path_buf(),
        });
    }
    wat::parse_str(text)
        .map(Into::into)
        .map_err(|e| LoadError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string().lines().next().unwrap_or_default().to_string(),
        })
}

fn link_component(
    engine: &Engine,
    path: &Path,
    component: &Component,
) -> Result<Compiled, LoadError> {
    let wasm = engine.wasmtime();
    let ty = component.component_type();
    let mut linker = wasmtime::component::Linker::<ComponentState>::new(wasm);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)
        .map_err(|e| LoadError::Engine(wasmtime_one_line(&e)))?;
    let link_error = |e: wasmtime::Error| LoadError::Link {
        path: path.to_path_buf(),
        message: wasmtime_one_line(&e),
    };

    if let Some(ComponentItem::ComponentInstance(mapper)) =
        ty.get_export(wasm, MAPPER_INTERFACE).map(|e| e.ty)
    {
        let func = match mapper.get_export(wasm, MAPPER_FUNCTION).map(|e| e.ty) {
            Some(ComponentItem::ComponentFunc(func)) => func,
            _ => {
                return Err(no_entry(
                    path,
                    format!("exports `{MAPPER_INTERFACE}` without a `{MAPPER_FUNCTION}` function"),
                ));
            }
        };
        if !has_mapper_signature(&func) {
            return Err(no_entry(
                path,
                format!(
                    "`{MAPPER_INTERFACE}#{MAPPER_FUNCTION}` must have type \
                     `func(input: list<u8>) -> result<list<u8>, string>`"
                ),
            ));
        }
        let instance = component
            .get_export_index(None, MAPPER_INTERFACE)
            .ok_or_else(|| no_entry(path, format!("`{MAPPER_INTERFACE}` is not exported")))?;
        let map = component
            .get_export_index(Some(&instance), MAPPER_FUNCTION)
            .ok_or_else(|| no_entry(path, format!("`{MAPPER_FUNCTION}` is not exported")))?;
        let pre = linker.instantiate_pre(component).map_err(link_error)?;
        return Ok(Compiled::Mapper { pre, map });
    }

    let is_command = ty
        .exports(wasm)
        .any(|(name, _)| name.starts_with(COMMAND_INTERFACE_PREFIX));
    if is_command {
        let pre = linker.instantiate_pre(component).map_err(link_error)?;
        let pre = CommandPre::new(pre).map_err(link_error)?;
        return Ok(Compiled::CommandComponent { pre });
    }

    let exports: Vec<String> = ty
        .exports(wasm)
        .map(|(name, _)| format!("`{name}`"))
        .collect();
    Err(no_entry(
        path,
        format!(
            "the component exports neither `{MAPPER_INTERFACE}` (a mapper) nor `wasi:cli/run` \
             (a command); it exports {}",
            if exports.is_empty() {
                "nothing".to_string()
            } else {
                exports.join(", ")
            }
        ),
    ))
}

fn link_module(engine: &Engine, path: &Path, module: &Module) -> Result<Compiled, LoadError> {
    let has_start = module
        .exports()
        .any(|e| e.name() == "_start" && e.ty().func().is_some());
    if !has_start {
        return Err(no_entry(
            path,
            "the core module exports no `_start` function: a core module plugin must be a \
             WASI command (build for wasm32-wasip1), or build a component for a mapper"
                .to_string(),
        ));
    }
    let mut linker = wasmtime::Linker::<ModuleState>::new(engine.wasmtime());
    wasmtime_wasi::p1::add_to_linker_async(&mut linker, |state| &mut state.wasi)
        .map_err(|e| LoadError::Engine(wasmtime_one_line(&e)))?;
    let pre = linker
        .instantiate_pre(module)
        .map_err(|e| LoadError::Link {
            path: path.to_path_buf(),
            message: wasmtime_one_line(&e),
        })?;
    Ok(Compiled::CommandModule { pre })
}

fn no_entry(path: &Path, what: String) -> LoadError {
    LoadError::NoEntryPoint {
        path: path.to_path_buf(),
        what,
    }
}

/// `func(input: list<u8>) -> result<list<u8>, string>`.
fn has_mapper_signature(func: &ComponentFunc) -> bool {
    let is_bytes = |ty: &Type| matches!(ty, Type::List(list) if list.ty() == Type::U8);
    let params: Vec<Type> = func.params().map(|(_, ty)| ty).collect();
    let results: Vec<Type> = func.results().collect();
    let [param] = params.as_slice() else {
        return false;
    };
    let [Type::Result(result)] = results.as_slice() else {
        return false;
    };
    is_bytes(param)
        && result.ok().as_ref().is_some_and(is_bytes)
        && result.err() == Some(Type::String)
}
