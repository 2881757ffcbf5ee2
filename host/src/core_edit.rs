//! Reading and editing a core module's bytes for `snapshot.rs`: whether
//! its code can change state sandmap could not put back, and the two
//! edits that make its state reachable (exports added for its globals, or
//! a function that resets them). Every edit appends entries to sections,
//! so that no index moves, and keeps every other byte.

use wasm_encoder::{Encode, ExportKind, ExportSection, RawSection};
use wasmparser::{ExternalKind, Operator, Parser, Payload};

/// The export name of the function [`add_reset_function`] adds.
pub(crate) const RESET_EXPORT: &str = "sandmap-reset";
/// Section ids of a core module.
const TYPE_SECTION_ID: u8 = 1;
const FUNCTION_SECTION_ID: u8 = 3;
const EXPORT_SECTION_ID: u8 = 7;
const CODE_SECTION_ID: u8 = 10;

/// One export of the module.
pub(crate) struct Export {
    pub name: String,
    pub kind: ExternalKind,
    pub index: u32,
}

/// Whether no function of `binary` changes a table, drops a segment or
/// discards memory.
pub(crate) fn code_is_restorable(binary: &[u8]) -> bool {
    let restorable = |body: wasmparser::FunctionBody<'_>| -> Option<bool> {
        for op in body.get_operators_reader().ok()? {
            if changes_tables_or_segments(&op.ok()?) {
                return Some(false);
            }
        }
        Some(true)
    };
    for payload in Parser::new(0).parse_all(binary) {
        match payload {
            Ok(Payload::CodeSectionEntry(body)) => {
                if restorable(body) != Some(true) {
                    return false;
                }
            }
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    true
}

/// Whether an instruction changes what a table holds, drops a segment or
/// discards memory: state sandmap could not put back.
fn changes_tables_or_segments(op: &Operator<'_>) -> bool {
    matches!(
        op,
        Operator::TableSet { .. }
            | Operator::TableGrow { .. }
            | Operator::TableFill { .. }
            | Operator::TableCopy { .. }
            | Operator::TableInit { .. }
            | Operator::ElemDrop { .. }
            | Operator::DataDrop { .. }
            // Gives pages back to the kernel, which the page scan would
            // then not see (not enabled in wasmtime today).
            | Operator::MemoryDiscard { .. }
    )
}

/// `binary` with `added` exports appended to its export section; every
/// other section byte for byte.
pub(crate) fn rewrite(
    binary: &[u8],
    exports: &[Export],
    added: &[(String, u32)],
) -> Option<Vec<u8>> {
    let mut module = wasm_encoder::Module::new();
    let mut replaced = false;
    for payload in Parser::new(0).parse_all(binary) {
        let payload = payload.ok()?;
        let Some((id, range)) = payload.as_section() else {
            continue;
        };
        if id == EXPORT_SECTION_ID {
            let mut section = ExportSection::new();
            for export in exports {
                section.export(&export.name, kind(export.kind)?, export.index);
            }
            for (name, index) in added {
                section.export(name, ExportKind::Global, *index);
            }
            module.section(&section);
            replaced = true;
        } else {
            module.section(&RawSection {
                id,
                data: binary.get(range)?,
            });
        }
    }
    // A command exports `_start`, so it has an export section.
    replaced.then(|| module.finish())
}

/// `binary` with one more function, exported as [`RESET_EXPORT`], that
/// sets each mutable global to its initializer's value. The type,
/// function, code and export sections each get one entry appended (the
/// new type and function come last, so no index moves); every other
/// section is kept byte for byte. `None` when one of those sections is
/// missing.
pub(crate) fn add_reset_function(
    binary: &[u8],
    imported_functions: u32,
    mutable_globals: &[u32],
    initializers: &[Vec<u8>],
) -> Option<Vec<u8>> {
    let mut module = wasm_encoder::Module::new();
    let mut appended = 0;
    let mut reset_type = None;
    let mut defined_functions = None;
    for payload in Parser::new(0).parse_all(binary) {
        let payload = payload.ok()?;
        match &payload {
            Payload::TypeSection(types) => {
                let mut count = 0u32;
                for group in types.clone() {
                    count = count.checked_add(u32::try_from(group.ok()?.types().len()).ok()?)?;
                }
                reset_type = Some(count);
            }
            Payload::FunctionSection(functions) => defined_functions = Some(functions.count()),
            _ => {}
        }
        let Some((id, range)) = payload.as_section() else {
            continue;
        };
        let data = binary.get(range)?;
        let entry = match id {
            // `(func)`: no parameters, no results.
            TYPE_SECTION_ID => vec![0x60, 0, 0],
            FUNCTION_SECTION_ID => leb(reset_type?),
            CODE_SECTION_ID => {
                let mut body = leb(0); // no locals
                for (&index, initializer) in mutable_globals.iter().zip(initializers) {
                    body.extend_from_slice(initializer);
                    body.push(0x24); // global.set
                    index.encode(&mut body);
                }
                body.push(0x0b); // end
                let mut entry = leb(u32::try_from(body.len()).ok()?);
                entry.extend_from_slice(&body);
                entry
            }
            EXPORT_SECTION_ID => {
                let index = imported_functions.checked_add(defined_functions?)?;
                let mut entry = Vec::new();
                RESET_EXPORT.encode(&mut entry);
                entry.push(0x00); // a function
                index.encode(&mut entry);
                entry
            }
            _ => {
                module.section(&RawSection { id, data });
                continue;
            }
        };
        let appended_data = append_entry(data, &entry)?;
        module.section(&RawSection {
            id,
            data: &appended_data,
        });
        appended += 1;
    }
    (appended == 4).then(|| module.finish())
}

/// A vector section's contents (`count` then the entries) with `entry`
/// appended.
fn append_entry(section: &[u8], entry: &[u8]) -> Option<Vec<u8>> {
    let mut reader = wasmparser::BinaryReader::new(section, 0);
    let count = reader.read_var_u32().ok()?;
    let entries = &section[reader.current_position()..];
    let mut data = leb(count.checked_add(1)?);
    data.extend_from_slice(entries);
    data.extend_from_slice(entry);
    Some(data)
}

/// `value` as an unsigned LEB128.
fn leb(value: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    value.encode(&mut bytes);
    bytes
}

fn kind(kind: ExternalKind) -> Option<ExportKind> {
    Some(match kind {
        ExternalKind::Func | ExternalKind::FuncExact => ExportKind::Func,
        ExternalKind::Table => ExportKind::Table,
        ExternalKind::Memory => ExportKind::Memory,
        ExternalKind::Global => ExportKind::Global,
        ExternalKind::Tag => ExportKind::Tag,
    })
}
