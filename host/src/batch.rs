//! Batches: how records travel from the feeder to the workers. One message
//! per batch, not per record, keeps the queue off the per-record cost; the
//! batch size adapts to how long records take, so slow plugins still
//! spread over every worker.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;

/// How long a batch should take to process. Long enough that the
/// per-batch cost (a queue message, a reorder) vanishes; short enough that
/// work spreads evenly and results flow.
const TARGET_BATCH_TIME: Duration = Duration::from_micros(500);
/// Most records in one batch.
const MAX_BATCH_RECORDS: usize = 4096;
/// Most record bytes in one batch (a single larger record still makes a
/// batch of one).
const MAX_BATCH_BYTES: usize = 1 << 20;
/// What holding a record costs beyond its bytes, for the in-flight budget.
pub(crate) const RECORD_OVERHEAD: u64 = 64;

/// Consecutive dispatched records, stored back to back in one buffer. Each
/// keeps its input index (records a filter skipped leave gaps) and gets a
/// dispatch ordinal: ordinals of a run are contiguous from 0, so results
/// can be put back in order.
#[derive(Debug)]
pub(crate) struct Batch {
    /// Ordinal of the batch's first record.
    pub first_ord: u64,
    data: Bytes,
    spans: Vec<Range<usize>>,
    indices: Vec<u64>,
    hashes: Vec<u32>,
}

impl Batch {
    /// Number of records.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Record `i`.
    pub fn record(&self, i: usize) -> &[u8] {
        &self.data[self.spans[i].clone()]
    }

    /// Record `i` as shared bytes (no copy).
    pub fn record_bytes(&self, i: usize) -> Bytes {
        self.data.slice(self.spans[i].clone())
    }

    /// Input index of record `i`.
    pub fn index(&self, i: usize) -> u64 {
        self.indices[i]
    }

    /// CRC-32C of record `i`'s bytes, when the run asked for them.
    pub fn hash(&self, i: usize) -> u32 {
        self.hashes.get(i).copied().unwrap_or(0)
    }

    /// What records `range` cost against the in-flight budget.
    pub fn cost(&self, range: Range<usize>) -> u64 {
        self.spans[range]
            .iter()
            .map(|span| span.len() as u64 + RECORD_OVERHEAD)
            .sum()
    }
}

/// The CRC-32C of a record's bytes, as journals keep it.
pub(crate) fn record_hash(record: &[u8]) -> u32 {
    crc32c::crc32c(record)
}

/// Groups records into batches and numbers them.
#[derive(Debug, Default)]
pub(crate) struct Batcher {
    next_ord: u64,
    data: Vec<u8>,
    spans: Vec<Range<usize>>,
    indices: Vec<u64>,
    hashes: Vec<u32>,
    /// Whether records are hashed (for a journal).
    hash_records: bool,
}

impl Batcher {
    /// A batcher; `hash_records` keeps a hash of each record's bytes.
    pub fn new(hash_records: bool) -> Self {
        Batcher {
            hash_records,
            ..Batcher::default()
        }
    }

    /// Adds record `index`; returns a batch when one is full.
    pub fn push(&mut self, index: u64, record: &[u8], records_per_batch: usize) -> Option<Batch> {
        let start = self.data.len();
        self.data.extend_from_slice(record);
        self.spans.push(start..self.data.len());
        self.indices.push(index);
        if self.hash_records {
            self.hashes.push(record_hash(record));
        }
        if self.spans.len() >= records_per_batch || self.data.len() >= MAX_BATCH_BYTES {
            self.take()
        } else {
            None
        }
    }

    /// The partial batch, if any.
    pub fn take(&mut self) -> Option<Batch> {
        if self.spans.is_empty() {
            return None;
        }
        // The next batch will likely be as large: start it with room.
        let (bytes, records) = (self.data.len(), self.spans.len());
        let hashed = if self.hash_records { records } else { 0 };
        let batch = Batch {
            first_ord: self.next_ord,
            data: Bytes::from(std::mem::replace(&mut self.data, Vec::with_capacity(bytes))),
            spans: std::mem::replace(&mut self.spans, Vec::with_capacity(records)),
            indices: std::mem::replace(&mut self.indices, Vec::with_capacity(records)),
            hashes: std::mem::replace(&mut self.hashes, Vec::with_capacity(hashed)),
        };
        self.next_ord += batch.len() as u64;
        Some(batch)
    }
}

/// A running estimate of the time one record takes, shared by the workers
/// (who measure) and the feeder (who sizes batches from it).
#[derive(Debug, Default)]
pub(crate) struct BatchSizer {
    nanos_per_record: AtomicU64,
}

impl BatchSizer {
    /// Records that `records` records took `elapsed`.
    pub fn observe(&self, elapsed: Duration, records: usize) {
        if records == 0 {
            return;
        }
        let sample = (elapsed.as_nanos() / records as u128).clamp(1, u64::MAX as u128) as u64;
        let old = self.nanos_per_record.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            (old.saturating_mul(3) / 4)
                .saturating_add(sample / 4)
                .max(1)
        };
        self.nanos_per_record.store(new, Ordering::Relaxed);
    }

    /// How many records the next batch should hold. One until a first
    /// batch has been timed, so that the first records spread out.
    pub fn records_per_batch(&self) -> usize {
        match self.nanos_per_record.load(Ordering::Relaxed) {
            0 => 1,
            nanos => {
                ((TARGET_BATCH_TIME.as_nanos() as u64 / nanos) as usize).clamp(1, MAX_BATCH_RECORDS)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batcher_numbers_records_contiguously_and_keeps_indices() {
        let mut batcher = Batcher::default();
        let mut batches = Vec::new();
        for i in 0..10u8 {
            batches.extend(batcher.push(u64::from(i) * 2, &[i], 3));
        }
        batches.extend(batcher.take());
        let firsts: Vec<u64> = batches.iter().map(|b| b.first_ord).collect();
        assert_eq!(firsts, [0, 3, 6, 9]);
        assert_eq!(batches[1].index(2), 10);
        let all: Vec<u8> = batches
            .iter()
            .flat_map(|b| (0..b.len()).map(move |i| b.record(i)[0]))
            .collect();
        assert_eq!(all, (0..10).collect::<Vec<u8>>());
        assert_eq!(batches[0].cost(0..3), 3 * (1 + RECORD_OVERHEAD));
    }

    #[test]
    fn sizer_starts_at_one_and_grows_for_fast_records() {
        let sizer = BatchSizer::default();
        assert_eq!(sizer.records_per_batch(), 1);
        sizer.observe(Duration::from_micros(100), 100);
        assert_eq!(sizer.records_per_batch(), 500);
        let slow = BatchSizer::default();
        slow.observe(Duration::from_secs(1), 1);
        assert_eq!(slow.records_per_batch(), 1);
    }
}
