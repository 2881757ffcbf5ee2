//! Finding a plugin's entry point and linking the sandbox's WASI to it,
//! once, ahead of every instance.

use std::sync::Arc;

use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Component, Type};
use wasmtime::{FuncType, Module};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::p2::bindings::sync::CommandPre as SyncCommandPre;

use wasmtime::component::{ComponentExportIndex, InstancePre};

use crate::build_error::{LoadError, WasmError};
use crate::engine::Engine;
use crate::host::{ComponentState, ModuleState};
use crate::load::Code;
use crate::snapshot::{RESET_EXPORT, Snapshot, is_added_export};
use crate::waits::may_wait;

/// The interface a mapper component exports.
pub const MAPPER_INTERFACE: &str = "sandmap:plugin/mapper@0.1.0";

/// What kind of plugin was loaded, and so how records are fed to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
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

/// The pre-instantiated form of each kind of plugin. `sync` plugins can
/// never wait on the host (see `waits.rs`): they are linked to WASI's
/// synchronous implementation and called without an async fiber, which
/// costs less per record. Every other plugin is called through the async
/// API, raced against its timer and the cancel token.
pub(crate) enum Compiled {
    Mapper {
        pre: InstancePre<ComponentState>,
        map: ComponentExportIndex,
        sync: bool,
        /// How to put an instance back to its fresh state, when the
        /// component qualifies: then `--isolate` keeps one instance.
        reset: Option<MapperReset>,
    },
    CommandComponent {
        pre: CommandPre<ComponentState>,
    },
    CommandComponentSync {
        pre: SyncCommandPre<ComponentState>,
    },
    CommandModule {
        pre: wasmtime::InstancePre<ModuleState>,
        sync: bool,
        /// How to put an instance back to its fresh state, when the module
        /// qualifies: then one instance serves many records.
        snapshot: Option<Arc<Snapshot>>,
    },
}

/// How a qualifying mapper's instance is put back to its fresh state (see
/// `component_snapshot.rs`).
pub(crate) struct MapperReset {
    /// The added export that resets the main module's globals.
    pub func: ComponentExportIndex,
    /// Its memory's initial state.
    pub snapshot: Arc<Snapshot>,
}

impl Compiled {
    /// The compiled code, serialized (what `sandmap compile` writes).
    pub fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
        match self {
            Compiled::Mapper { pre, .. } => pre.component().serialize(),
            Compiled::CommandComponent { pre } => pre.instance_pre().component().serialize(),
            Compiled::CommandComponentSync { pre } => pre.instance_pre().component().serialize(),
            Compiled::CommandModule { pre, .. } => pre.module().serialize(),
        }
    }

    /// Whether one instance serves many records: a mapper's always (unless
    /// the run isolates records), a command's when its state can be put
    /// back after each record.
    pub fn reuses_instances(&self) -> bool {
        match self {
            Compiled::Mapper { .. } => true,
            Compiled::CommandComponent { .. } | Compiled::CommandComponentSync { .. } => false,
            Compiled::CommandModule { sync, snapshot, .. } => {
                *sync && snapshot.is_some() && crate::dirty::DirtyPages::open().is_some()
            }
        }
    }

    /// Whether isolated records share a kept instance, put back after
    /// each (a mapper that qualifies, called synchronously).
    pub fn isolates_in_place(&self) -> bool {
        match self {
            Compiled::Mapper { sync, reset, .. } => {
                *sync && reset.is_some() && crate::dirty::DirtyPages::open().is_some()
            }
            _ => false,
        }
    }

    /// What kind of plugin this is.
    pub fn kind(&self) -> PluginKind {
        match self {
            Compiled::Mapper { .. } => PluginKind::Mapper,
            Compiled::CommandComponent { .. } | Compiled::CommandComponentSync { .. } => {
                PluginKind::CommandComponent
            }
            Compiled::CommandModule { .. } => PluginKind::CommandModule,
        }
    }
}

/// The function of [`MAPPER_INTERFACE`] sandmap calls once per record.
const MAPPER_FUNCTION: &str = "map";
/// The interface (any 0.2.x version) a command component exports.
const COMMAND_INTERFACE_PREFIX: &str = "wasi:cli/run@0.2";

/// Links `code`, returning its pre-instantiated form, its imports and its
/// exports. `dirs_granted` says whether the run grants directories.
pub(crate) fn link(
    engine: &Engine,
    name: &str,
    code: &Code,
    dirs_granted: bool,
) -> Result<(Compiled, Vec<String>, Vec<String>), LoadError> {
    let wasm = engine.wasmtime();
    match code {
        Code::Component(component, snapshot) => {
            let ty = component.component_type();
            let imports: Vec<String> = ty.imports(wasm).map(|(n, _)| n.to_string()).collect();
            // The export sandmap added to reset the globals is not the
            // plugin's (nor, in precompiled code, where it cannot be told
            // apart, a plugin's export of that name).
            let exports = ty
                .exports(wasm)
                .map(|(n, _)| n.to_string())
                .filter(|name| name != RESET_EXPORT)
                .collect();
            let sync = !may_wait(&imports, dirs_granted);
            let mut linked = link_component(engine, name, component, sync)?;
            if let (Compiled::Mapper { reset, .. }, Some(snapshot)) = (&mut linked, snapshot) {
                *reset = component
                    .get_export_index(None, RESET_EXPORT)
                    .map(|func| MapperReset {
                        func,
                        snapshot: Arc::clone(snapshot),
                    });
            }
            Ok((linked, imports, exports))
        }
        Code::Module(module, snapshot) => {
            let imports: Vec<String> = module
                .imports()
                .map(|i| format!("{}#{}", i.module(), i.name()))
                .collect();
            // The exports sandmap added to reach the globals are not the
            // plugin's.
            let exports = module
                .exports()
                .map(|e| e.name().to_string())
                .filter(|name| match snapshot {
                    Some(snapshot) => !snapshot.added.contains(name),
                    None => !is_added_export(name),
                })
                .collect();
            let sync = !may_wait(&imports, dirs_granted);
            let linked = link_module(engine, name, module, sync, snapshot.clone())?;
            Ok((linked, imports, exports))
        }
    }
}

fn link_component(
    engine: &Engine,
    name: &str,
    component: &Component,
    sync: bool,
) -> Result<Compiled, LoadError> {
    let wasm = engine.wasmtime();
    let ty = component.component_type();
    let mut linker = wasmtime::component::Linker::<ComponentState>::new(wasm);
    if sync {
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(engine_error)?;
    } else {
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(engine_error)?;
    }
    deny_component_symlinks(&mut linker).map_err(engine_error)?;
    let link_error = |e| LoadError::Link {
        name: name.to_string(),
        source: WasmError::new(e),
    };
    let no_entry = |what: String| LoadError::NoEntryPoint {
        name: name.to_string(),
        what,
    };

    if let Some(ComponentItem::ComponentInstance(mapper)) =
        ty.get_export(wasm, MAPPER_INTERFACE).map(|e| e.ty)
    {
        let func = match mapper.get_export(wasm, MAPPER_FUNCTION).map(|e| e.ty) {
            Some(ComponentItem::ComponentFunc(func)) => func,
            _ => {
                return Err(no_entry(format!(
                    "exports `{MAPPER_INTERFACE}` without a `{MAPPER_FUNCTION}` function"
                )));
            }
        };
        if !has_mapper_signature(&func) {
            return Err(no_entry(format!(
                "`{MAPPER_INTERFACE}#{MAPPER_FUNCTION}` must have type \
                 `func(input: list<u8>) -> result<list<u8>, string>`"
            )));
        }
        let instance = component
            .get_export_index(None, MAPPER_INTERFACE)
            .ok_or_else(|| no_entry(format!("`{MAPPER_INTERFACE}` is not exported")))?;
        let map = component
            .get_export_index(Some(&instance), MAPPER_FUNCTION)
            .ok_or_else(|| no_entry(format!("`{MAPPER_FUNCTION}` is not exported")))?;
        let pre = linker.instantiate_pre(component).map_err(link_error)?;
        return Ok(Compiled::Mapper {
            pre,
            map,
            sync,
            reset: None,
        });
    }

    let is_command = ty
        .exports(wasm)
        .any(|(name, _)| name.starts_with(COMMAND_INTERFACE_PREFIX));
    if is_command {
        let pre = linker.instantiate_pre(component).map_err(link_error)?;
        if sync {
            let pre = SyncCommandPre::new(pre).map_err(link_error)?;
            return Ok(Compiled::CommandComponentSync { pre });
        }
        let pre = CommandPre::new(pre).map_err(link_error)?;
        return Ok(Compiled::CommandComponent { pre });
    }

    let exports: Vec<String> = ty
        .exports(wasm)
        .map(|(name, _)| format!("`{name}`"))
        .collect();
    Err(no_entry(format!(
        "the component exports neither `{MAPPER_INTERFACE}` (a mapper) nor `wasi:cli/run` \
         (a command); it exports {}",
        if exports.is_empty() {
            "nothing".to_string()
        } else {
            exports.join(", ")
        }
    )))
}

fn link_module(
    engine: &Engine,
    name: &str,
    module: &Module,
    sync: bool,
    snapshot: Option<Arc<Snapshot>>,
) -> Result<Compiled, LoadError> {
    let start = module
        .exports()
        .find(|e| e.name() == "_start")
        .and_then(|e| e.ty().func().cloned());
    let Some(start) = start else {
        return Err(LoadError::NoEntryPoint {
            name: name.to_string(),
            what: "the core module exports no `_start` function: a core module plugin must be a \
                   WASI command (build for wasm32-wasip1), or build a component for a mapper"
                .to_string(),
        });
    };
    if !FuncType::eq(&start, &FuncType::new(engine.wasmtime(), [], [])) {
        return Err(LoadError::NoEntryPoint {
            name: name.to_string(),
            what: format!("`_start` must take and return nothing, but its type is `{start}`"),
        });
    }
    let mut linker = wasmtime::Linker::<ModuleState>::new(engine.wasmtime());
    if sync {
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |state| &mut state.wasi)
            .map_err(engine_error)?;
    } else {
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |state| &mut state.wasi)
            .map_err(engine_error)?;
    }
    deny_module_symlinks(&mut linker).map_err(engine_error)?;
    let pre = linker
        .instantiate_pre(module)
        .map_err(|e| LoadError::Link {
            name: name.to_string(),
            source: WasmError::new(e),
        })?;
    Ok(Compiled::CommandModule {
        pre,
        sync,
        snapshot,
    })
}

/// The filesystem interface whose `symlink-at` is replaced.
const FILESYSTEM_TYPES: &str = "wasi:filesystem/types@0.2.12";
/// preview 1's `EPERM`.
const ERRNO_PERM: i32 = 63;

/// Making symlinks is refused, even in a writable grant: sandmap never
/// follows one out of a grant, but a link left in a host directory (say
/// `out/x -> ../../home`) could mislead a host program that reads the
/// directory afterwards.
fn deny_component_symlinks(
    linker: &mut wasmtime::component::Linker<ComponentState>,
) -> wasmtime::Result<()> {
    use wasmtime::component::Resource;
    use wasmtime_wasi::filesystem::Descriptor;
    use wasmtime_wasi::p2::bindings::filesystem::types::ErrorCode;
    linker.allow_shadowing(true);
    linker.instance(FILESYSTEM_TYPES)?.func_wrap(
        "[method]descriptor.symlink-at",
        |_, (_, _, _): (Resource<Descriptor>, String, String)| {
            Ok((Err::<(), ErrorCode>(ErrorCode::NotPermitted),))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// The same for preview 1's `path_symlink`.
fn deny_module_symlinks(linker: &mut wasmtime::Linker<ModuleState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker.func_wrap(
        "wasi_snapshot_preview1",
        "path_symlink",
        |_: wasmtime::Caller<'_, ModuleState>, _: i32, _: i32, _: i32, _: i32, _: i32| ERRNO_PERM,
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

fn engine_error(e: wasmtime::Error) -> LoadError {
    LoadError::Engine {
        source: WasmError::new(e),
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
