//! What a fresh instance of a core-module command looks like, for the
//! modules whose whole state sandmap can put back after a record: then one
//! instance serves record after record (see `warm.rs`) and each record
//! still starts from exactly the state a fresh instance would have.
//!
//! A core module's state is its memories, tables, globals and dropped
//! segments. A module qualifies when every part of it can be put back:
//! - one linear memory, its own, whose initial contents are known here
//!   (zeros and the active data segments at constant offsets);
//! - no `start` function (it could change that state before `_start`);
//! - no instruction that changes a table or drops a segment, so tables and
//!   segments stay as instantiation left them;
//! - imports that are all functions (the WASI ones).
//!
//! Mutable globals need not be exported: [`plan`] rewrites the module to
//! export each one under a name of sandmap's own, so their values can be
//! read and set. A module that does not qualify runs as before, on a fresh
//! instance per record.
//!
//! A mapper component's main module is planned the same way
//! ([`plan_reset`]), except that its globals cannot be reached from
//! outside the component: it gets a function of sandmap's own that sets
//! them to their initial values instead (see `component_snapshot.rs`).

use wasmparser::{DataKind, ExternalKind, Operator, Parser, Payload, TypeRef};

use crate::core_edit::{Export, add_reset_function, rewrite};
use crate::dirty::Written;
use crate::waits::may_wait;

/// The prefix of the exports [`plan`] adds for mutable globals.
const GLOBAL_EXPORT_PREFIX: &str = "sandmap:global:";
pub(crate) use crate::core_edit::RESET_EXPORT;
/// The WASI preview 1 functions that leave the WASI context as they found
/// it (its descriptor table above all): a module importing no others can
/// keep its context between records too, with only stdin refilled.
const CONTEXT_KEEPING_IMPORTS: &[&str] = &[
    "args_get",
    "args_sizes_get",
    "environ_get",
    "environ_sizes_get",
    "clock_res_get",
    "clock_time_get",
    "fd_fdstat_get",
    "fd_prestat_get",
    "fd_prestat_dir_name",
    "fd_read",
    "fd_write",
    "proc_exit",
    "random_get",
    "sched_yield",
];
/// The unit in which [`Snapshot::pages_with_data`] tells where the image
/// has data: the smallest host page.
const PAGE: usize = 4096;

/// Whether an export name is one [`plan`] adds (hidden from listings).
pub(crate) fn is_added_export(name: &str) -> bool {
    name.starts_with(GLOBAL_EXPORT_PREFIX)
}

/// How to put an instance of a qualifying module back to its fresh state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Snapshot {
    /// The memory's export name.
    pub memory: String,
    /// The memory's size when instantiated, in bytes.
    pub memory_bytes: usize,
    /// The memory's initial contents: its active data segments (offset and
    /// bytes, later ones written over earlier ones); zeros elsewhere. Kept
    /// as segments, not as an image of the memory: a module of a few bytes
    /// may have a data segment near the end of a memory of a gigabyte.
    segments: Vec<(usize, Vec<u8>)>,
    /// Whether the segments are in address order and do not overlap (then
    /// the ones a range needs are found by binary search).
    segments_sorted: bool,
    /// For each [`PAGE`] up to the end of the last segment, whether it
    /// may hold anything but zeros.
    data_pages: Vec<bool>,
    /// Export names of every mutable global.
    pub globals: Vec<String>,
    /// The export names [`plan`] added (hidden from listings).
    pub added: Vec<String>,
    /// Whether the WASI context can be kept between records too: every
    /// import is one of [`CONTEXT_KEEPING_IMPORTS`].
    pub context_kept: bool,
}

impl Snapshot {
    /// Fills `out` with the memory's initial contents at `offset`.
    pub fn initial(&self, offset: usize, out: &mut [u8]) {
        out.fill(0);
        let end = offset.saturating_add(out.len());
        let first = if self.segments_sorted {
            self.segments
                .partition_point(|(start, bytes)| start + bytes.len() <= offset)
        } else {
            0
        };
        for (start, bytes) in &self.segments[first..] {
            if self.segments_sorted && *start >= end {
                break;
            }
            let from = (*start).max(offset);
            let to = (start + bytes.len()).min(end);
            if from < to {
                out[from - offset..to - offset].copy_from_slice(&bytes[from - start..to - start]);
            }
        }
    }

    /// The pages (of [`PAGE`] bytes) within `range` whose initial contents
    /// are not all zeros.
    pub fn pages_with_data(
        &self,
        range: std::ops::Range<usize>,
    ) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        let pages = range.start / PAGE..range.end.div_ceil(PAGE);
        pages
            .filter(|&page| self.data_pages.get(page).copied().unwrap_or(false))
            .map(move |page| (page * PAGE).max(range.start)..((page + 1) * PAGE).min(range.end))
    }

    /// Puts the `written` pages of `data` (a memory of
    /// [`memory_bytes`](Snapshot::memory_bytes)) back to their initial
    /// contents. `false` if a page lies outside `data`.
    pub fn restore(&self, data: &mut [u8], written: &[Written]) -> bool {
        for run in written {
            let Some(bytes) = data.get_mut(run.range.clone()) else {
                return false;
            };
            if !run.zero_page {
                self.initial(run.range.start, bytes);
                continue;
            }
            // Zeros are right wherever the image has none.
            for page in self.pages_with_data(run.range.clone()) {
                self.initial(page.start, &mut data[page]);
            }
        }
        true
    }
}

/// The module to compile and its snapshot, when `binary` (a valid core
/// module) qualifies; `None` when it does not or cannot be read, or when
/// it may wait on the host (with directories granted if `dirs_granted`):
/// such commands are called through the async API, on fresh instances.
/// `code_restorable` says whether its code leaves tables and segments
/// alone: [`code_is_restorable`](crate::core_edit::code_is_restorable), or that verdict from the compile cache
/// (reading all the code takes ~25 ms per MB), asked for last.
pub(crate) fn plan(
    binary: &[u8],
    dirs_granted: bool,
    code_restorable: impl FnOnce(&[u8]) -> bool,
) -> Option<(Vec<u8>, Snapshot)> {
    let facts = Facts::read(binary, |names| may_wait(names, dirs_granted))?;
    let mut added = Vec::new();
    let mut globals = Vec::new();
    for &index in &facts.mutable_globals {
        let exported = facts
            .exports
            .iter()
            .find(|e| e.kind == ExternalKind::Global && e.index == index);
        match exported {
            Some(export) => globals.push(export.name.clone()),
            None => {
                let name = format!("{GLOBAL_EXPORT_PREFIX}{index}");
                globals.push(name.clone());
                added.push((name, index));
            }
        }
    }
    if facts
        .exports
        .iter()
        .any(|e| e.name.starts_with(GLOBAL_EXPORT_PREFIX))
    {
        return None;
    }
    let memory = facts
        .exports
        .iter()
        .find(|e| e.kind == ExternalKind::Memory && e.index == 0)?
        .name
        .clone();
    if !code_restorable(binary) {
        return None;
    }
    let rewritten = rewrite(binary, &facts.exports, &added)?;
    let added = added.into_iter().map(|(name, _)| name).collect();
    let context_kept = facts.context_kept;
    Some((
        rewritten,
        facts.into_snapshot(memory, globals, added, context_kept),
    ))
}

/// The main module of a mapper component (`binary`, a valid core module
/// with no start function, one memory of its own and only function
/// imports) rewritten with an exported function, [`RESET_EXPORT`], that
/// sets every mutable global to its initial value; and its snapshot.
/// `None` when it does not qualify. Its code is not checked here.
pub(crate) fn plan_reset(binary: &[u8]) -> Option<(Vec<u8>, Snapshot)> {
    let facts = Facts::read(binary, |_| false)?;
    if facts.exports.iter().any(|e| e.name == RESET_EXPORT) {
        return None;
    }
    let rewritten = add_reset_function(
        binary,
        facts.imported_functions,
        &facts.mutable_globals,
        &facts.initializers,
    )?;
    let added = vec![RESET_EXPORT.to_string()];
    Some((
        rewritten,
        facts.into_snapshot(String::new(), Vec::new(), added, false),
    ))
}

/// What [`plan`] needs to know of a module.
struct Facts {
    exports: Vec<Export>,
    mutable_globals: Vec<u32>,
    /// The initializer of each mutable global, without its `end`.
    initializers: Vec<Vec<u8>>,
    /// Functions the module imports.
    imported_functions: u32,
    memory_bytes: usize,
    segments: Vec<(usize, Vec<u8>)>,
    context_kept: bool,
}

impl Facts {
    /// Reads a module; `None` if it does not qualify or if `waits` says
    /// its imports (as `module#name`) may wait on the host.
    fn read(binary: &[u8], waits: impl FnOnce(&[String]) -> bool) -> Option<Facts> {
        let mut facts = Facts {
            exports: Vec::new(),
            mutable_globals: Vec::new(),
            initializers: Vec::new(),
            imported_functions: 0,
            memory_bytes: 0,
            segments: Vec::new(),
            context_kept: true,
        };
        let mut waits = Some(waits);
        let mut memories = 0;
        for payload in Parser::new(0).parse_all(binary) {
            match payload.ok()? {
                Payload::Version { encoding, .. } if encoding != wasmparser::Encoding::Module => {
                    return None;
                }
                Payload::ImportSection(imports) => {
                    let mut names = Vec::new();
                    for import in imports.into_imports() {
                        let import = import.ok()?;
                        if !matches!(import.ty, TypeRef::Func(_) | TypeRef::FuncExact(_)) {
                            return None;
                        }
                        facts.context_kept &= import.module == "wasi_snapshot_preview1"
                            && CONTEXT_KEEPING_IMPORTS.contains(&import.name);
                        names.push(format!("{}#{}", import.module, import.name));
                    }
                    facts.imported_functions = u32::try_from(names.len()).ok()?;
                    // Decided before the code is read, which takes time.
                    if waits.take().is_none_or(|waits| waits(&names)) {
                        return None;
                    }
                }
                Payload::MemorySection(section) => {
                    for memory in section {
                        let memory = memory.ok()?;
                        if memory.shared || memory.memory64 || memory.page_size_log2.is_some() {
                            return None;
                        }
                        memories += 1;
                        facts.memory_bytes =
                            usize::try_from(memory.initial.checked_mul(65536)?).ok()?;
                    }
                }
                Payload::GlobalSection(section) => {
                    for (index, global) in (0u32..).zip(section) {
                        let global = global.ok()?;
                        if global.ty.mutable {
                            facts.mutable_globals.push(index);
                            let mut reader = global.init_expr.get_binary_reader();
                            let expression = reader.read_bytes(reader.bytes_remaining()).ok()?;
                            // Every constant expression ends with `end`.
                            let (&0x0b, operators) = expression.split_last()? else {
                                return None;
                            };
                            facts.initializers.push(operators.to_vec());
                        }
                    }
                }
                Payload::ExportSection(section) => {
                    for export in section {
                        let export = export.ok()?;
                        facts.exports.push(Export {
                            name: export.name.to_string(),
                            kind: export.kind,
                            index: export.index,
                        });
                    }
                }
                Payload::StartSection { .. } => return None,
                Payload::DataSection(section) => {
                    for data in section {
                        facts.place(data.ok()?)?;
                    }
                }
                _ => {}
            }
        }
        (memories == 1).then_some(facts)
    }

    /// The snapshot these facts make.
    fn into_snapshot(
        self,
        memory: String,
        globals: Vec<String>,
        added: Vec<String>,
        context_kept: bool,
    ) -> Snapshot {
        let end = self
            .segments
            .iter()
            .map(|(start, bytes)| start + bytes.len())
            .max()
            .unwrap_or(0);
        let mut data_pages = vec![false; end.div_ceil(PAGE)];
        for (start, bytes) in &self.segments {
            for (at, chunk) in (*start..).step_by(PAGE).zip(bytes.chunks(PAGE)) {
                if chunk.iter().any(|&b| b != 0) {
                    // A chunk may straddle two pages.
                    data_pages[at / PAGE] = true;
                    data_pages[(at + chunk.len() - 1) / PAGE] = true;
                }
            }
        }
        let segments_sorted = self
            .segments
            .windows(2)
            .all(|pair| pair[0].0 + pair[0].1.len() <= pair[1].0);
        Snapshot {
            memory,
            memory_bytes: self.memory_bytes,
            segments: self.segments,
            segments_sorted,
            data_pages,
            globals,
            added,
            context_kept,
        }
    }

    /// Notes an active data segment.
    fn place(&mut self, data: wasmparser::Data<'_>) -> Option<()> {
        let DataKind::Active {
            memory_index: 0,
            offset_expr,
        } = data.kind
        else {
            // Passive segments stay as they are (no `data.drop` runs).
            return matches!(data.kind, DataKind::Passive).then_some(());
        };
        let mut ops = offset_expr.get_operators_reader();
        let Operator::I32Const { value } = ops.read().ok()? else {
            return None;
        };
        if !matches!(ops.read().ok()?, Operator::End) {
            return None;
        }
        let offset = usize::try_from(value.cast_unsigned()).ok()?;
        let end = offset.checked_add(data.data.len())?;
        if end > self.memory_bytes {
            return None;
        }
        if !data.data.is_empty() {
            self.segments.push((offset, data.data.to_vec()));
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core_edit::code_is_restorable;

    fn planned(wat: &str) -> Option<(Vec<u8>, Snapshot)> {
        plan(&wat::parse_str(wat).unwrap(), false, code_is_restorable)
    }

    const COMMAND: &str = r#"(module
        (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
        (memory (export "memory") 2)
        (global $sp (mut i32) (i32.const 4096))
        (global $k (export "k") (mut i64) (i64.const 7))
        (global i32 (i32.const 1))
        (data (i32.const 8) "hello")
        (data (i32.const 70000) "far")
        (func (export "_start") (global.set $sp (i32.const 1))))"#;

    #[test]
    fn a_plain_command_is_planned_with_its_image_and_globals() {
        let (binary, snapshot) = planned(COMMAND).expect("qualifies");
        assert_eq!(snapshot.memory, "memory");
        assert_eq!(snapshot.memory_bytes, 2 * 65536);
        let mut image = vec![0xAA; 70010];
        snapshot.initial(0, &mut image);
        assert_eq!(&image[8..13], b"hello");
        assert_eq!(&image[70000..70003], b"far");
        assert!(image[..8].iter().chain(&image[13..70000]).all(|&b| b == 0));
        assert_eq!(snapshot.globals, ["sandmap:global:0", "k"]);
        assert_eq!(snapshot.added, ["sandmap:global:0"]);
        assert!(snapshot.context_kept);
        // The rewritten module is valid and exports the added global.
        wasmparser::Validator::new().validate_all(&binary).unwrap();
        let exports: Vec<String> = Parser::new(0)
            .parse_all(&binary)
            .filter_map(|p| match p.unwrap() {
                Payload::ExportSection(s) => Some(s),
                _ => None,
            })
            .flat_map(|s| s.into_iter().map(|e| e.unwrap().name.to_string()))
            .collect();
        assert_eq!(exports, ["memory", "k", "_start", "sandmap:global:0"]);
    }

    #[test]
    fn the_image_is_what_wasmtime_instantiates() {
        let engine = wasmtime::Engine::default();
        let mut linker = wasmtime::Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |ctx| ctx).unwrap();
        let stateful = std::fs::read_to_string(sandmap_test_artifacts::STATEFUL_COMMAND_WAT);
        let stateful = wat::parse_str(stateful.unwrap()).unwrap();
        let echo = std::fs::read(sandmap_test_artifacts::ECHO).unwrap();
        // Segments out of order, written over each other, across a page.
        let overlapping = wat::parse_str(
            r#"(module (memory (export "memory") 2)
                (data (i32.const 70000) "far") (data (i32.const 5) "abcdefgh")
                (data (i32.const 7) "XY") (data (i32.const 4094) "span")
                (func (export "_start")))"#,
        )
        .unwrap();
        for binary in [
            wat::parse_str(COMMAND).unwrap(),
            stateful,
            echo,
            overlapping,
        ] {
            let (rewritten, snapshot) = plan(&binary, false, code_is_restorable).unwrap();
            let module = wasmtime::Module::new(&engine, &rewritten).unwrap();
            let context = wasmtime_wasi::WasiCtxBuilder::new().build_p1();
            let mut store = wasmtime::Store::new(&engine, context);
            let instance = linker.instantiate(&mut store, &module).unwrap();
            let memory = instance.get_memory(&mut store, &snapshot.memory).unwrap();
            let data = memory.data(&store);
            assert_eq!(data.len(), snapshot.memory_bytes);
            let mut expected = vec![0xAA; data.len()];
            snapshot.initial(0, &mut expected);
            assert!(data == expected, "the image differs from the memory");
            // Page by page, as pages are put back.
            for (at, page) in (0..).step_by(PAGE).zip(data.chunks(PAGE)) {
                let mut expected = vec![0xAA; page.len()];
                snapshot.initial(at, &mut expected);
                assert!(page == expected, "page at {at} differs");
                let has_data = snapshot.pages_with_data(at..at + PAGE).count() > 0;
                assert!(has_data || page.iter().all(|&b| b == 0), "page at {at}");
            }
            for name in &snapshot.globals {
                assert!(instance.get_global(&mut store, name).is_some(), "{name}");
            }
        }
    }

    #[test]
    fn initial_contents_read_from_the_image_then_zeros() {
        let (_, snapshot) = planned(COMMAND).unwrap();
        let mut page = vec![0xAAu8; 16];
        snapshot.initial(0, &mut page);
        assert_eq!(&page[..], b"\0\0\0\0\0\0\0\0hello\0\0\0");
        let mut tail = vec![0xAAu8; 8];
        snapshot.initial(70000, &mut tail);
        assert_eq!(&tail[..], b"far\0\0\0\0\0");
        let mut beyond = vec![0xAAu8; 8];
        snapshot.initial(100_000, &mut beyond);
        assert_eq!(beyond, [0; 8]);
        // "hello" is on the first page, "far" on the eighteenth.
        let pages: Vec<_> = snapshot.pages_with_data(0..2 * 65536).collect();
        assert_eq!(pages, [0..4096, 17 * 4096..18 * 4096]);
        assert_eq!(snapshot.pages_with_data(4096..17 * 4096).count(), 0);
    }

    #[test]
    fn modules_whose_state_cannot_be_put_back_are_not_planned() {
        let cases = [
            ("a start function", "(func $s) (start $s)"),
            (
                "table.set",
                "(table 1 funcref) (func (table.set 0 (i32.const 0) (ref.null func)))",
            ),
            (
                "table.grow",
                "(table 1 funcref) (func (drop (table.grow 0 (ref.null func) (i32.const 1))))",
            ),
            ("data.drop", "(data \"x\") (func (data.drop 0))"),
            (
                "elem.drop",
                "(table 1 funcref) (elem func) (func (elem.drop 0))",
            ),
            ("an imported global", "(import \"m\" \"g\" (global i32))"),
            ("a second memory", "(memory 1)"),
            (
                "a computed data offset",
                "(global $o i32 (i32.const 0)) (data (global.get $o) \"x\")",
            ),
            (
                "a taken export name",
                "(global (export \"sandmap:global:9\") (mut i32) (i32.const 0))",
            ),
        ];
        for (what, extra) in cases {
            let wat = format!(
                "(module {extra} (memory (export \"memory\") 1) (func (export \"_start\")))"
            );
            assert!(planned(&wat).is_none(), "{what} was planned");
        }
        let unexported = "(module (memory 1) (func (export \"_start\")))";
        assert!(
            planned(unexported).is_none(),
            "an unexported memory was planned"
        );
        let control = "(module (memory (export \"memory\") 1) (func (export \"_start\")))";
        assert!(planned(control).is_some());
        // A command that can wait on the host runs on fresh instances
        // through the async API: no need to plan it.
        let sleeps = "(module (import \"wasi_snapshot_preview1\" \"poll_oneoff\" \
                      (func (param i32 i32 i32 i32) (result i32))) \
                      (memory (export \"memory\") 1) (func (export \"_start\")))";
        assert!(planned(sleeps).is_none());
        let reads = "(module (import \"wasi_snapshot_preview1\" \"fd_read\" \
                     (func (param i32 i32 i32 i32) (result i32))) \
                     (memory (export \"memory\") 1) (func (export \"_start\")))";
        assert!(planned(reads).is_some());
        let reads = wat::parse_str(reads).unwrap();
        assert!(plan(&reads, true, code_is_restorable).is_none());
        // The code is read last, and only when all else qualifies.
        assert!(plan(&reads, false, |_| false).is_none());
        // A module that may close or renumber a descriptor keeps its
        // instance but gets a new WASI context per record.
        let closes = "(module (import \"wasi_snapshot_preview1\" \"fd_close\" \
                      (func (param i32) (result i32))) (memory (export \"memory\") 1) \
                      (func (export \"_start\")))";
        assert!(!planned(closes).expect("still planned").1.context_kept);
        let closes = wat::parse_str(closes).unwrap();
        assert!(plan(&closes, false, |_| true).is_some());
    }
}
