//! Mapper components whose whole state sandmap can put back after a
//! record: with `--isolate` (or `--deterministic`) one instance then serves
//! record after record, each starting from exactly the state a fresh
//! instance has, instead of a new instance being made and torn down per
//! record.
//!
//! A component's state is the state of its core instances, and the
//! handles it holds. A component qualifies when all of the first sits in
//! one core module, instantiated once, that `snapshot.rs` can plan
//! ([`plan_reset`]: one memory of its own, known initial contents, no
//! start function), and no core module can change a table or drop a
//! segment. The other modules (the shims and fix-ups toolchains add) hold
//! no memory and no mutable global. Nested components may hold no core
//! modules or instances. It may make no handles of its own (no
//! `resource.new`): the only handles it can hold are those the host gives
//! it, which `mapper.rs` checks for after each record.
//!
//! The component is rewritten, its main module replaced by the planned
//! one and four sections appended (so that no index moves), to export a
//! function [`RESET_EXPORT`] that sets the main module's mutable globals to
//! their initial values. The memory is reached through the result of each
//! call (see `lift.rs`).

use std::ops::Range;

use wasm_encoder::{
    Alias, CanonicalFunctionSection, ComponentAliasSection, ComponentExportKind,
    ComponentExportSection, ComponentTypeSection, ComponentValType, ExportKind, RawSection,
};
use wasmparser::{
    CanonicalFunction, ComponentAlias, ComponentExternalKind, ComponentOuterAliasKind,
    ComponentTypeRef, Encoding, Instance, Parser, Payload, Validator, WasmFeatures,
};

use crate::snapshot::{RESET_EXPORT, Snapshot, plan_reset};

/// What is known of one of the component's core modules.
struct ModuleFacts {
    /// Its bytes, within the component.
    range: Range<usize>,
    /// Whether it defines a memory or a mutable global.
    has_state: bool,
    /// Whether it has a start function.
    starts: bool,
}

/// The component, rewritten to export [`RESET_EXPORT`], and its main
/// module's snapshot; `None` when `binary` (a valid component) does not
/// qualify. `code_restorable` says whether no function of any of its
/// modules changes a table or drops a segment (asked for last: reading all
/// the code takes time).
pub(crate) fn plan_component(
    binary: &[u8],
    code_restorable: impl FnOnce(&[u8]) -> bool,
) -> Option<(Vec<u8>, Snapshot)> {
    let (modules, instances) = read_shape(binary)?;
    if modules.iter().any(|module| module.starts) {
        return None;
    }
    let mut stateful = modules.iter().enumerate().filter(|(_, m)| m.has_state);
    let (main, main_facts) = stateful.next()?;
    if stateful.next().is_some() {
        return None;
    }
    let main = u32::try_from(main).ok()?;
    let mut instantiations = (0u32..).zip(&instances).filter(|(_, m)| **m == Some(main));
    let (instance, _) = instantiations.next()?;
    if instantiations.next().is_some() {
        return None;
    }
    let (module, snapshot) = plan_reset(binary.get(main_facts.range.clone())?)?;
    if !code_restorable(binary) {
        return None;
    }
    let counts = Counts::read(binary)?;
    let rewritten = rebuild(binary, &main_facts.range, &module, instance, &counts)?;
    Some((rewritten, snapshot))
}

/// The component's top-level core modules, in index order, and for each
/// core instance the module it instantiates (`None`: made of exports).
/// `None` when the component makes core modules or instances any other way
/// (aliases, imports, nested components), or starts anything.
fn read_shape(binary: &[u8]) -> Option<(Vec<ModuleFacts>, Vec<Option<u32>>)> {
    let mut modules: Vec<ModuleFacts> = Vec::new();
    let mut instances = Vec::new();
    let mut nesting: Vec<Encoding> = Vec::new();
    for payload in Parser::new(0).parse_all(binary) {
        let payload = payload.ok()?;
        let top = nesting.len() == 1;
        let in_module = nesting.last() == Some(&Encoding::Module);
        match payload {
            Payload::Version { encoding, .. } => nesting.push(encoding),
            Payload::End(_) => {
                nesting.pop();
            }
            Payload::ModuleSection {
                unchecked_range, ..
            } if top => modules.push(ModuleFacts {
                range: unchecked_range,
                has_state: false,
                starts: false,
            }),
            Payload::InstanceSection(section) if top => {
                for instance in section {
                    instances.push(match instance.ok()? {
                        Instance::Instantiate { module_index, .. } => Some(module_index),
                        Instance::FromExports(_) => None,
                    });
                }
            }
            // Core modules and instances inside a nested component.
            Payload::ModuleSection { .. } | Payload::InstanceSection(_) => return None,
            Payload::ComponentStartSection { .. } => return None,
            // Lifts and lowers are stateless, and so is dropping or reading
            // a handle; anything else (making a handle of the component's
            // own resources, tasks, streams) is state outside the core
            // instances.
            Payload::ComponentCanonicalSection(section) => {
                for function in section {
                    let stateless = matches!(
                        function.ok()?,
                        CanonicalFunction::Lift { .. }
                            | CanonicalFunction::Lower { .. }
                            | CanonicalFunction::ResourceDrop { .. }
                            | CanonicalFunction::ResourceRep { .. }
                    );
                    if !stateless {
                        return None;
                    }
                }
            }
            Payload::ComponentAliasSection(section) => {
                for alias in section {
                    let makes_module = match alias.ok()? {
                        ComponentAlias::InstanceExport { kind, .. } => {
                            kind == ComponentExternalKind::Module
                        }
                        ComponentAlias::Outer { kind, .. } => {
                            kind == ComponentOuterAliasKind::CoreModule
                        }
                        ComponentAlias::CoreInstanceExport { .. } => false,
                    };
                    if makes_module {
                        return None;
                    }
                }
            }
            Payload::ComponentImportSection(section) => {
                for import in section {
                    if matches!(import.ok()?.ty, ComponentTypeRef::Module(_)) {
                        return None;
                    }
                }
            }
            Payload::MemorySection(section) if in_module => {
                modules.last_mut()?.has_state |= section.count() > 0;
            }
            Payload::ImportSection(section) if in_module => {
                // An imported mutable global is another module's state.
                for import in section.into_imports() {
                    if matches!(import.ok()?.ty, wasmparser::TypeRef::Global(g) if g.mutable) {
                        modules.last_mut()?.has_state = true;
                    }
                }
            }
            Payload::GlobalSection(section) if in_module => {
                for global in section {
                    modules.last_mut()?.has_state |= global.ok()?.ty.mutable;
                }
            }
            Payload::StartSection { .. } if in_module => modules.last_mut()?.starts = true,
            _ => {}
        }
    }
    Some((modules, instances))
}

/// The sizes of the component's index spaces the appended sections extend.
struct Counts {
    core_functions: u32,
    types: u32,
    functions: u32,
}

impl Counts {
    /// Reads them with wasmparser's validator (function bodies are not
    /// validated: wasmtime does that when it compiles).
    fn read(binary: &[u8]) -> Option<Counts> {
        let mut validator = Validator::new_with_features(WasmFeatures::all());
        let mut depth = 0usize;
        for payload in Parser::new(0).parse_all(binary) {
            let payload = payload.ok()?;
            match payload {
                Payload::Version { .. } => depth += 1,
                Payload::End(_) if depth == 1 => {
                    let types = validator.types(0)?;
                    return Some(Counts {
                        core_functions: types.function_count(),
                        types: types.component_type_count(),
                        functions: types.component_function_count(),
                    });
                }
                Payload::End(_) => depth -= 1,
                _ => {}
            }
            validator.payload(&payload).ok()?;
        }
        None
    }
}

/// `binary` with the module at `main` replaced by `module`, and
/// [`RESET_EXPORT`] of core instance `instance` lifted and exported.
fn rebuild(
    binary: &[u8],
    main: &Range<usize>,
    module: &[u8],
    instance: u32,
    counts: &Counts,
) -> Option<Vec<u8>> {
    let mut component = wasm_encoder::Component::new();
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(binary) {
        let payload = payload.ok()?;
        match payload {
            Payload::Version { .. } => depth += 1,
            Payload::End(_) => depth -= 1,
            _ if depth == 1 => {
                let Some((id, range)) = payload.as_section() else {
                    continue;
                };
                let data = if range == *main {
                    module
                } else {
                    binary.get(range)?
                };
                component.section(&RawSection { id, data });
            }
            _ => {}
        }
    }
    let mut aliases = ComponentAliasSection::new();
    aliases.alias(Alias::CoreInstanceExport {
        instance,
        kind: ExportKind::Func,
        name: RESET_EXPORT,
    });
    component.section(&aliases);
    let mut types = ComponentTypeSection::new();
    types
        .function()
        .params(std::iter::empty::<(&str, ComponentValType)>())
        .result(None);
    component.section(&types);
    let mut lifts = CanonicalFunctionSection::new();
    lifts.lift(counts.core_functions, counts.types, []);
    component.section(&lifts);
    let mut exports = ComponentExportSection::new();
    exports.export(
        RESET_EXPORT,
        ComponentExportKind::Func,
        counts.functions,
        None,
    );
    component.section(&exports);
    Some(component.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core_edit::code_is_restorable;

    /// A component around `module` (one instance of it), exporting a
    /// function `f` lifted from its export `f`, with `extra` appended.
    fn component(module: &str, extra: &str) -> Vec<u8> {
        wat::parse_str(format!(
            r#"(component
                (core module $m {module})
                (core instance $i (instantiate $m))
                (func (export "f") (canon lift (core func $i "f")))
                {extra})"#
        ))
        .unwrap()
    }

    const MAIN: &str = r#"(memory (export "memory") 2)
        (global $g (mut i32) (i32.const 7))
        (global $h (mut i64) (i64.add (i64.const 40) (i64.const 2)))
        (global i32 (i32.const 1))
        (global (mut funcref) (ref.func $k))
        (data (i32.const 8) "hello")
        (func $k)
        (func (export "f") (global.set $g (i32.const 1)) (global.set $h (i64.const 0)))"#;

    fn planned(binary: &[u8]) -> Option<(Vec<u8>, Snapshot)> {
        plan_component(binary, code_is_restorable)
    }

    #[test]
    fn a_plain_component_is_planned_with_its_image_and_a_reset_export() {
        let binary = component(MAIN, "");
        let (rewritten, snapshot) = planned(&binary).expect("qualifies");
        assert_eq!(snapshot.memory_bytes, 2 * 65536);
        let mut start = [0xAA; 16];
        snapshot.initial(0, &mut start);
        assert_eq!(&start, b"\0\0\0\0\0\0\0\0hello\0\0\0");
        Validator::new().validate_all(&rewritten).unwrap();
        let exports = Parser::new(0)
            .parse_all(&rewritten)
            .filter_map(|p| match p.unwrap() {
                Payload::ComponentExportSection(s) => Some(s),
                _ => None,
            });
        let names: Vec<String> = exports
            .flat_map(|s| s.into_iter().map(|e| e.unwrap().name.name.to_string()))
            .collect();
        assert_eq!(names, ["f", RESET_EXPORT]);
    }

    #[test]
    fn the_reset_function_sets_each_mutable_global_to_its_initial_value() {
        // `get` reports the globals: 7 and 42 when fresh.
        let main = MAIN.replace(
            r#"(func (export "f")"#,
            r#"(func (export "get") (result i64)
                 (i64.add (i64.extend_i32_u (global.get $g)) (i64.mul (global.get $h) (i64.const 100))))
               (func (export "f")"#,
        );
        let binary = component(
            &main,
            r#"(func (export "get") (result u64) (canon lift (core func $i "get")))"#,
        );
        let (rewritten, _) = planned(&binary).expect("qualifies");
        let engine = wasmtime::Engine::default();
        let component = wasmtime::component::Component::new(&engine, &rewritten).unwrap();
        let linker = wasmtime::component::Linker::<()>::new(&engine);
        let mut store = wasmtime::Store::new(&engine, ());
        let instance = linker.instantiate(&mut store, &component).unwrap();
        let get = instance
            .get_typed_func::<(), (u64,)>(&mut store, "get")
            .unwrap();
        let f = instance.get_typed_func::<(), ()>(&mut store, "f").unwrap();
        let reset = instance
            .get_typed_func::<(), ()>(&mut store, RESET_EXPORT)
            .unwrap();
        assert_eq!(get.call(&mut store, ()).unwrap(), (4207,));
        f.call(&mut store, ()).unwrap();
        assert_eq!(get.call(&mut store, ()).unwrap(), (1,));
        reset.call(&mut store, ()).unwrap();
        assert_eq!(get.call(&mut store, ()).unwrap(), (4207,));
    }

    #[test]
    fn components_whose_state_cannot_be_put_back_are_not_planned() {
        let stateless = r#"(core module $n (func (export "g")))
            (core instance (instantiate $n))"#;
        assert!(planned(&component(MAIN, stateless)).is_some());
        let cases = [
            (
                "a second module with a memory",
                r#"(core module $n (memory 1)) (core instance (instantiate $n))"#,
            ),
            (
                "a second module with a mutable global",
                r#"(core module $n (global (mut i32) (i32.const 0)))
                   (core instance (instantiate $n))"#,
            ),
            (
                "a module with a start function",
                r#"(core module $n (func $s) (start $s)) (core instance (instantiate $n))"#,
            ),
            (
                "a second instance of the main module",
                r#"(core instance (instantiate $m))"#,
            ),
            (
                "a module that changes a table",
                r#"(core module $n (table 1 funcref)
                     (func (table.set 0 (i32.const 0) (ref.null func))))
                   (core instance (instantiate $n))"#,
            ),
            (
                "a nested component with a module",
                r#"(component (core module))"#,
            ),
            (
                "a resource of its own",
                r#"(type $r (resource (rep i32)))
                   (core func (canon resource.new $r))"#,
            ),
        ];
        for (what, extra) in cases {
            assert!(
                planned(&component(MAIN, extra)).is_none(),
                "{what} was planned"
            );
        }
        let taken = MAIN.replace(
            r#"(func (export "f")"#,
            r#"(func (export "sandmap-reset")) (func (export "f")"#,
        );
        assert!(planned(&component(&taken, "")).is_none(), "a taken name");
        // The code is read last, and only when all else qualifies.
        assert!(plan_component(&component(MAIN, ""), |_| false).is_none());
    }
}
