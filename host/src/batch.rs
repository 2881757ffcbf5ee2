//! Batches: how records travel between the feeder, the workers and the
//! consumer. One message per batch, not per record, keeps the channels off
//! the per-record cost; the batch size adapts to how long records take, so
//! slow plugins still spread over every worker.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::RecordError;

/// How long a batch should take to process. Long enough that the
/// per-batch cost (two channel messages, a reorder) vanishes; short enough
/// that work spreads evenly and results flow.
const TARGET_BATCH_TIME: Duration = Duration::from_micros(500);
/// Most records in one batch.
const MAX_BATCH_RECORDS: usize = 4096;
/// Most record bytes in one batch (a single larger record still makes a
/// batch of one).
pub(crate) const MAX_BATCH_BYTES: usize = 1 << 20;

/// Consecutive records, stored back to back in one buffer.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// Position of this batch in the run, from 0.
    pub seq: u64,
    /// Index of the batch's first record in the run.
    pub first_index: u64,
    data: Vec<u8>,
    spans: Vec<Range<usize>>,
}

impl Batch {
    fn new(seq: u64, first_index: u64) -> Self {
        Batch {
            seq,
            first_index,
            data: Vec::new(),
            spans: Vec::new(),
        }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// The records, in order.
    pub fn records(&self) -> impl Iterator<Item = &[u8]> {
        self.spans.iter().map(|span| &self.data[span.clone()])
    }

    fn push(&mut self, record: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(record);
        self.spans.push(start..self.data.len());
    }
}

/// One record's outcome: its output, or why it failed.
pub type Outcome = Result<Vec<u8>, RecordError>;

/// The outcomes of one batch, in record order.
#[derive(Debug)]
pub(crate) struct BatchResult {
    pub seq: u64,
    pub first_index: u64,
    pub outcomes: Vec<Outcome>,
}

impl BatchResult {
    /// Every record of `batch` failed as interrupted (the run stopped
    /// before they ran).
    pub fn interrupted(batch: &Batch) -> Self {
        BatchResult {
            seq: batch.seq,
            first_index: batch.first_index,
            outcomes: (0..batch.len())
                .map(|_| Err(RecordError::interrupted()))
                .collect(),
        }
    }
}

/// A running estimate of the time one record takes, shared by the workers
/// (who measure) and the feeder (who sizes batches from it).
#[derive(Debug, Default)]
pub(crate) struct BatchSizer {
    nanos_per_record: AtomicU64,
}

impl BatchSizer {
    /// Records that a batch of `records` took `elapsed`.
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

/// Groups records into batches and numbers them.
#[derive(Debug, Default)]
pub(crate) struct Batcher {
    next_seq: u64,
    next_index: u64,
    current: Option<Batch>,
}

impl Batcher {
    /// Adds a record; returns a batch when it is full.
    pub fn push(&mut self, record: &[u8], records_per_batch: usize) -> Option<Batch> {
        let batch = self
            .current
            .get_or_insert_with(|| Batch::new(self.next_seq, self.next_index));
        batch.push(record);
        self.next_index += 1;
        if batch.len() >= records_per_batch || batch.data.len() >= MAX_BATCH_BYTES {
            self.take()
        } else {
            None
        }
    }

    /// The index the next record pushed will have.
    pub fn next_index(&self) -> u64 {
        self.next_index
    }

    /// The partial batch, if any.
    pub fn take(&mut self) -> Option<Batch> {
        let batch = self.current.take()?;
        self.next_seq += 1;
        Some(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batcher_numbers_batches_and_records_contiguously() {
        let mut batcher = Batcher::default();
        let mut batches = Vec::new();
        for i in 0..10u8 {
            batches.extend(batcher.push(&[i], 3));
        }
        batches.extend(batcher.take());
        let seqs: Vec<u64> = batches.iter().map(|b| b.seq).collect();
        let firsts: Vec<u64> = batches.iter().map(|b| b.first_index).collect();
        assert_eq!(seqs, [0, 1, 2, 3]);
        assert_eq!(firsts, [0, 3, 6, 9]);
        let all: Vec<u8> = batches
            .iter()
            .flat_map(|b| b.records())
            .flatten()
            .copied()
            .collect();
        assert_eq!(all, (0..10).collect::<Vec<u8>>());
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
