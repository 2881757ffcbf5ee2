//! Taking a mapper's result out of guest memory without trusting its
//! size: the output is measured against the output cap *before* a byte of
//! it is copied, and an error text is cut to [`MAX_ERROR_TEXT`] while it
//! is read, so a guest returning gigabytes costs the host nothing.
//!
//! wasmtime's own types cannot do this: `Vec<u8>` and `String` copy
//! everything, and `WasmList`/`WasmStr` point into memory that the
//! guest's post-return function (which wasmtime runs inside the call)
//! frees and may overwrite before the host reads it. So these two types
//! lift themselves, reading the canonical ABI's pointer and length
//! directly, during the lift, before post-return runs.
//!
//! This implements wasmtime's `Lift` trait by hand, through the hidden
//! `__internal` items its derive macros use; they are not covered by
//! wasmtime's stability promise, which is why it is all in this one file,
//! against the exact wasmtime version in `Cargo.lock`.

use std::cell::{Cell, RefCell};
use std::ops::Range;

use wasmtime::ValRaw;
use wasmtime::component::__internal::wasmtime_environ::component::StringEncoding;
use wasmtime::component::__internal::{CanonicalAbiInfo, InstanceType, InterfaceType, LiftContext};
use wasmtime::component::{ComponentType, Lift, WasmList, WasmStr};

use crate::limits::MAX_ERROR_TEXT;

thread_local! {
    /// The output cap of the call being made on this thread.
    static OUTPUT_CAP: Cell<u64> = const { Cell::new(u64::MAX) };
    /// Outputs of the records this worker thread finished and has not yet
    /// handed over: they go straight from guest memory to here, and from
    /// here to the reader in one buffer per chunk.
    static OUTPUTS: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// Where the memory of the last result lifted on this thread lies: its
    /// address (exposed) and length.
    static LIFTED_FROM: Cell<Option<(usize, usize)>> = const { Cell::new(None) };
}

/// The address and length of the linear memory the last result lifted on
/// this thread came from, forgotten once taken: how a kept mapper instance
/// finds its memory (see `mapper.rs`).
pub(crate) fn take_lifted_memory() -> Option<(usize, usize)> {
    LIFTED_FROM.with(Cell::take)
}

/// Notes where the memory of a result being lifted lies.
fn note_memory(memory: &[u8]) {
    let address = memory.as_ptr().expose_provenance();
    LIFTED_FROM.with(|from| from.set(Some((address, memory.len()))));
}

/// Appends `bytes` to this thread's outputs; returns where they are.
pub(crate) fn push_output(bytes: &[u8]) -> Range<usize> {
    OUTPUTS.with(|outputs| {
        let mut outputs = outputs.borrow_mut();
        let start = outputs.len();
        outputs.extend_from_slice(bytes);
        start..outputs.len()
    })
}

/// How many bytes of outputs this thread holds.
pub(crate) fn outputs_len() -> usize {
    OUTPUTS.with(|outputs| outputs.borrow().len())
}

/// Forgets the outputs after the first `len` bytes (those of an attempt
/// that failed after all).
pub(crate) fn truncate_outputs(len: usize) {
    OUTPUTS.with(|outputs| outputs.borrow_mut().truncate(len));
}

/// Takes this thread's outputs, leaving `empty` (an empty buffer) in
/// their place.
pub(crate) fn take_outputs(empty: Vec<u8>) -> Vec<u8> {
    debug_assert!(empty.is_empty());
    OUTPUTS.with(|outputs| std::mem::replace(&mut *outputs.borrow_mut(), empty))
}

/// Sets the output cap for the calls this thread makes next. (A worker
/// thread makes one call at a time; its fiber runs on the same thread.)
pub(crate) fn set_output_cap(cap: u64) {
    OUTPUT_CAP.with(|c| c.set(cap));
}

/// A `list<u8>` result: where its bytes went in this thread's outputs, or
/// only its length when it is larger than the output cap.
#[derive(Debug)]
pub(crate) enum GuestBytes {
    Bytes(Range<usize>),
    TooLong(u64),
}

/// A `string` result: at most [`MAX_ERROR_TEXT`] bytes of it (as UTF-8,
/// invalid sequences replaced), and its whole length in the guest's
/// encoding.
#[derive(Debug)]
pub(crate) struct GuestText {
    pub prefix: String,
    pub len: u64,
}

/// Reads a pointer/length pair from 8 bytes of memory.
fn pair(bytes: &[u8]) -> (usize, usize) {
    let word =
        |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
    (word(0), word(4))
}

/// `memory[ptr..ptr + len]`, or an error when the guest's pointer and
/// length leave its memory.
fn span(memory: &[u8], ptr: usize, len: usize) -> wasmtime::Result<&[u8]> {
    match ptr.checked_add(len) {
        Some(end) if end <= memory.len() => Ok(&memory[ptr..end]),
        _ => wasmtime::bail!("the result's pointer and length are out of bounds of memory"),
    }
}

impl GuestBytes {
    fn lift(cx: &mut LiftContext<'_>, ptr: usize, len: usize) -> wasmtime::Result<Self> {
        note_memory(cx.memory());
        let cap = OUTPUT_CAP.with(Cell::get);
        if len as u64 > cap {
            return Ok(GuestBytes::TooLong(len as u64));
        }
        Ok(GuestBytes::Bytes(push_output(span(cx.memory(), ptr, len)?)))
    }
}

impl GuestText {
    fn lift(cx: &mut LiftContext<'_>, ptr: usize, len: usize) -> wasmtime::Result<Self> {
        const UTF16_TAG: usize = 1 << 31;
        let memory = cx.memory();
        note_memory(memory);
        let (prefix, total) = match cx.options().string_encoding {
            StringEncoding::Utf8 => {
                let bytes = span(memory, ptr, len.min(MAX_ERROR_TEXT))?;
                span(memory, ptr, len)?;
                (String::from_utf8_lossy(bytes).into_owned(), len)
            }
            StringEncoding::Utf16 => (utf16_prefix(memory, ptr, len)?, len * 2),
            StringEncoding::CompactUtf16 if len & UTF16_TAG != 0 => {
                let units = len ^ UTF16_TAG;
                (utf16_prefix(memory, ptr, units)?, units * 2)
            }
            StringEncoding::CompactUtf16 => {
                let bytes = span(memory, ptr, len.min(MAX_ERROR_TEXT / 2))?;
                span(memory, ptr, len)?;
                (bytes.iter().map(|&b| char::from(b)).collect(), len)
            }
        };
        let mut prefix = prefix;
        let mut cut = prefix.len().min(MAX_ERROR_TEXT);
        while !prefix.is_char_boundary(cut) {
            cut -= 1;
        }
        prefix.truncate(cut);
        Ok(GuestText {
            prefix,
            len: total as u64,
        })
    }
}

/// The first units of a UTF-16 string, decoded lossily.
fn utf16_prefix(memory: &[u8], ptr: usize, units: usize) -> wasmtime::Result<String> {
    if !ptr.is_multiple_of(2) {
        wasmtime::bail!("the result's string pointer is not aligned to 2");
    }
    let bytes = units
        .checked_mul(2)
        .ok_or_else(|| wasmtime::format_err!("the result's string length overflows"))?;
    span(memory, ptr, bytes)?;
    let shown = span(memory, ptr, units.min(MAX_ERROR_TEXT / 2) * 2)?;
    let units = shown
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]));
    Ok(char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect())
}

// SAFETY: `GuestBytes` has the canonical ABI of `list<u8>` (a pointer
// pair), and checks that it is given exactly that type.
unsafe impl ComponentType for GuestBytes {
    type Lower = [ValRaw; 2];
    const ABI: CanonicalAbiInfo = CanonicalAbiInfo::POINTER_PAIR;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <WasmList<u8> as ComponentType>::typecheck(ty, types)
    }
}

// SAFETY: reads only within the guest's memory, bounds-checked above.
unsafe impl Lift for GuestBytes {
    fn linear_lift_from_flat(
        cx: &mut LiftContext<'_>,
        _ty: InterfaceType,
        src: &Self::Lower,
    ) -> wasmtime::Result<Self> {
        Self::lift(cx, src[0].get_u32() as usize, src[1].get_u32() as usize)
    }

    fn linear_lift_from_memory(
        cx: &mut LiftContext<'_>,
        _ty: InterfaceType,
        bytes: &[u8],
    ) -> wasmtime::Result<Self> {
        let (ptr, len) = pair(bytes);
        Self::lift(cx, ptr, len)
    }
}

// SAFETY: `GuestText` has the canonical ABI of `string` (a pointer pair),
// and checks that it is given exactly that type.
unsafe impl ComponentType for GuestText {
    type Lower = [ValRaw; 2];
    const ABI: CanonicalAbiInfo = CanonicalAbiInfo::POINTER_PAIR;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <WasmStr as ComponentType>::typecheck(ty, types)
    }
}

// SAFETY: reads only within the guest's memory, bounds-checked above.
unsafe impl Lift for GuestText {
    fn linear_lift_from_flat(
        cx: &mut LiftContext<'_>,
        _ty: InterfaceType,
        src: &Self::Lower,
    ) -> wasmtime::Result<Self> {
        Self::lift(cx, src[0].get_u32() as usize, src[1].get_u32() as usize)
    }

    fn linear_lift_from_memory(
        cx: &mut LiftContext<'_>,
        _ty: InterfaceType,
        bytes: &[u8],
    ) -> wasmtime::Result<Self> {
        let (ptr, len) = pair(bytes);
        Self::lift(cx, ptr, len)
    }
}
