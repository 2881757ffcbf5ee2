//! Buffers of results already handed out, kept for the next chunks of the
//! same run: a worker fills the buffer a reader just emptied instead of a
//! fresh one, so results cost no page faults and no unmapping (which, on
//! a multi-threaded process, interrupts every other core). What is kept
//! is small and bounded: at most 4 output buffers of at most 4 MiB and 4
//! entry buffers of at most a batch's records each.

use std::sync::Mutex;

use crate::outcome::Entry;

/// Buffers of each kind kept at most.
const KEPT: usize = 4;
/// Output buffers larger than this are let go (one huge result would
/// otherwise be held for the rest of the run).
const MAX_DATA: usize = 4 << 20;
/// Entry buffers with room for more than this are let go (a batch has
/// at most 4,096 records).
const MAX_ENTRIES: usize = 1 << 12;

/// The spare buffers of one run.
#[derive(Default)]
pub(crate) struct Spares {
    data: Mutex<Vec<Vec<u8>>>,
    entries: Mutex<Vec<Vec<Entry>>>,
}

impl Spares {
    /// An empty output buffer, with room for `room` bytes if it is new.
    pub fn data(&self, room: usize) -> Vec<u8> {
        let spare = self.data.lock().unwrap_or_else(|e| e.into_inner()).pop();
        spare.unwrap_or_else(|| Vec::with_capacity(room))
    }

    /// An empty entry buffer, with room for `room` entries if it is new.
    pub fn entries(&self, room: usize) -> Vec<Entry> {
        let spare = self.entries.lock().unwrap_or_else(|e| e.into_inner()).pop();
        spare.unwrap_or_else(|| Vec::with_capacity(room))
    }

    /// Keeps the buffers of a chunk whose results were all handed out.
    pub fn give(&self, mut data: Vec<u8>, mut entries: Vec<Entry>) {
        if data.capacity() <= MAX_DATA {
            data.clear();
            keep(&self.data, data);
        }
        if entries.capacity() <= MAX_ENTRIES {
            entries.clear();
            keep(&self.entries, entries);
        }
    }
}

fn keep<T>(kept: &Mutex<Vec<T>>, buffer: T) {
    let mut kept = kept.lock().unwrap_or_else(|e| e.into_inner());
    if kept.len() < KEPT {
        kept.push(buffer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_empty_and_only_a_few_are_kept() {
        let spares = Spares::default();
        let mut data = spares.data(100);
        assert!(data.capacity() >= 100);
        data.extend_from_slice(b"result");
        let pointer = data.as_ptr();
        spares.give(data, Vec::new());
        let again = spares.data(1);
        assert!(again.is_empty());
        assert_eq!(again.as_ptr(), pointer, "the same buffer, reused");
        for _ in 0..10 {
            spares.give(Vec::with_capacity(8), Vec::with_capacity(8));
        }
        assert_eq!(spares.data.lock().unwrap().len(), KEPT);
        assert_eq!(spares.entries.lock().unwrap().len(), KEPT);
    }

    #[test]
    fn a_huge_buffer_is_let_go() {
        let spares = Spares::default();
        spares.give(Vec::with_capacity(MAX_DATA + 1), Vec::new());
        assert!(spares.data.lock().unwrap().is_empty());
        assert_eq!(spares.entries.lock().unwrap().len(), 1);
    }
}
