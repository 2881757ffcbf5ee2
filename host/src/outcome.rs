//! What running a record gives: its outcome, and what it cost. Plain data,
//! made by the workers and handed to the caller.

use std::ops::Range;
use std::time::Duration;

use crate::error::RecordError;

/// One record's outcome: its output, or why it failed.
pub type Outcome = Result<Vec<u8>, RecordError>;

/// What a record cost, measured when [`Config::stats`](crate::Config::stats)
/// is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordStats {
    /// Wall-clock time of the record's last attempt, instance start-up
    /// included when it had a fresh instance.
    pub wall: Duration,
    /// Fuel the last attempt used, when fuel is metered.
    pub fuel: Option<u64>,
    /// Bytes of linear memory the instance held at the end of the record
    /// (memories never shrink, so also the most it held).
    pub memory: u64,
    /// Whether the record ran on an instance that had served an earlier
    /// one: a mapper's reused instance, or a command's instance put back
    /// to its fresh state.
    pub reused: bool,
}

/// One record's result, tagged with its position in the input.
///
/// ```
/// # let upper = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/upper-wat/upper.wat");
/// use sandmap::{ErrorKind, Pool};
///
/// let pool = Pool::builder(upper).stats(true).build()?;
/// let results: Vec<_> = pool.map(["ok", ""]).collect::<Result<_, _>>()?;
/// assert_eq!(results[0].outcome.as_deref().unwrap(), b"OK");
/// // A failed record is typed; the run went on.
/// let error = results[1].outcome.as_ref().unwrap_err();
/// assert_eq!((error.kind, error.message.as_str()), (ErrorKind::Guest, "empty record"));
/// assert_eq!(results[1].attempts, 1);
/// assert!(results[0].stats.unwrap().memory > 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordResult {
    /// Index of the record in the input, from 0.
    pub index: u64,
    /// The plugin's output, or why the record failed.
    pub outcome: Outcome,
    /// How many times the record was run (more than 1 after retries).
    pub attempts: u32,
    /// What the record cost, when measured.
    pub stats: Option<RecordStats>,
    /// CRC-32C of the record's input bytes, when the run keeps them (for
    /// a journal).
    pub(crate) input_hash: u32,
}

impl RecordResult {
    /// A result of record `index` (for callers that build results of their
    /// own, such as a merge of earlier runs).
    pub fn new(index: u64, outcome: Outcome) -> Self {
        RecordResult {
            index,
            outcome,
            attempts: 1,
            stats: None,
            input_hash: 0,
        }
    }
}

impl RecordResult {
    /// This result, borrowed.
    pub fn view(&self) -> RecordView<'_> {
        RecordView {
            index: self.index,
            outcome: self.outcome.as_deref(),
            attempts: self.attempts,
            stats: self.stats,
            input_hash: self.input_hash,
        }
    }
}

/// A result borrowed from where it lies (a run's buffers, or a
/// [`RecordResult`]): what a job hands its observer and what
/// [`ResultWriter`](crate::ResultWriter) writes, without copying the
/// output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordView<'a> {
    /// Index of the record in the input, from 0.
    pub index: u64,
    /// The plugin's output, or why the record failed.
    pub outcome: Result<&'a [u8], &'a RecordError>,
    /// How many times the record was run.
    pub attempts: u32,
    /// What the record cost, when measured.
    pub stats: Option<RecordStats>,
    pub(crate) input_hash: u32,
}

impl RecordView<'_> {
    /// The result, owned.
    pub fn to_result(&self) -> RecordResult {
        RecordResult {
            index: self.index,
            outcome: self.outcome.map(<[u8]>::to_vec).map_err(Clone::clone),
            attempts: self.attempts,
            stats: self.stats,
            input_hash: self.input_hash,
        }
    }
}

impl<'a> From<&'a RecordResult> for RecordView<'a> {
    fn from(result: &'a RecordResult) -> Self {
        result.view()
    }
}

/// What an attempt at a record gave: where its output is in the worker's
/// outputs, or why it failed.
pub(crate) type Produced = Result<Range<usize>, RecordError>;

/// One record's result as a worker hands it over: its output is a span of
/// the bytes of the chunk it travels in.
#[derive(Debug)]
pub(crate) struct Entry {
    pub index: u64,
    pub outcome: Produced,
    pub attempts: u32,
    pub stats: Option<RecordStats>,
    pub input_hash: u32,
}

impl Entry {
    /// The entry, with its output in `data`.
    pub fn view<'a>(&'a self, data: &'a [u8]) -> RecordView<'a> {
        RecordView {
            index: self.index,
            outcome: match &self.outcome {
                Ok(span) => Ok(&data[span.clone()]),
                Err(error) => Err(error),
            },
            attempts: self.attempts,
            stats: self.stats,
            input_hash: self.input_hash,
        }
    }
}
