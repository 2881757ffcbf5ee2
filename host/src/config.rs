//! How a pool runs: every setting but the plugin, as plain data. A
//! [`Config`] is only made by [`PoolBuilder`](crate::PoolBuilder), which
//! validates it as a whole.

use crate::error::ErrorKind;
use crate::grants::Grants;
use crate::limits::Limits;

/// Default bytes of results held between the workers and the reader of the
/// results (plus at most one record's output per worker).
pub const DEFAULT_MAX_IN_FLIGHT: u64 = 64 << 20;

/// In which order results come back.
///
/// ```
/// # let upper = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/upper-wat/upper.wat");
/// use sandmap::{Order, Pool};
///
/// let pool = Pool::builder(upper).order(Order::Completion).build()?;
/// let mut indices: Vec<u64> = pool
///     .map(["a", "b", "c"])
///     .map(|r| r.map(|r| r.index))
///     .collect::<Result<_, _>>()?;
/// indices.sort(); // they came as they finished
/// assert_eq!(indices, [0, 1, 2]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Order {
    /// In input order (the default).
    #[default]
    Input,
    /// As records finish; each result still carries its input index.
    Completion,
}

/// Which records fail into another attempt, and how many more attempts
/// each gets. A retried record runs on a fresh instance;
/// [`ErrorKind::Interrupted`] is never retried.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Retry {
    /// The kinds of failure that are retried.
    pub kinds: Vec<ErrorKind>,
    /// How many more attempts a failed record gets.
    pub times: u32,
}

impl Retry {
    /// Retries records failing with one of `kinds`, up to `times` more
    /// times each.
    ///
    /// ```
    /// use sandmap::{ErrorKind, Retry};
    /// let retry = Retry::new([ErrorKind::Timeout, ErrorKind::Trap], 3);
    /// assert!(retry.covers(ErrorKind::Timeout));
    /// assert!(!retry.covers(ErrorKind::Guest));
    /// ```
    pub fn new(kinds: impl IntoIterator<Item = ErrorKind>, times: u32) -> Self {
        let mut kinds: Vec<ErrorKind> = kinds
            .into_iter()
            .filter(|kind| *kind != ErrorKind::Interrupted)
            .collect();
        kinds.sort();
        kinds.dedup();
        Retry { kinds, times }
    }

    /// Whether a failure of `kind` gets another attempt.
    pub fn covers(&self, kind: ErrorKind) -> bool {
        self.times > 0 && self.kinds.contains(&kind)
    }
}

/// One of `count` shards: the records whose index `i` has
/// `i % count == index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Shard {
    /// This shard's number, from 0.
    pub index: u64,
    /// How many shards the input is split into.
    pub count: u64,
}

impl Shard {
    /// Shard `index` of `count` (checked when the pool is built).
    pub fn new(index: u64, count: u64) -> Self {
        Shard { index, count }
    }

    /// Whether record `record` belongs to this shard.
    ///
    /// ```
    /// let shard = sandmap::Shard::new(1, 3);
    /// assert!(shard.contains(4) && !shard.contains(5));
    /// ```
    pub fn contains(&self, record: u64) -> bool {
        self.count > 0 && record % self.count == self.index
    }
}

/// Every setting of a pool but the plugin. Read it back with
/// [`Pool::config`](crate::Pool::config); set it with
/// [`PoolBuilder`](crate::PoolBuilder).
///
/// ```
/// # let upper = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/upper-wat/upper.wat");
/// let pool = sandmap::Pool::builder(upper).jobs(3).isolate(true).build()?;
/// let config = pool.config();
/// assert_eq!((config.jobs, config.isolate), (3, true));
/// assert_eq!(config.limits.max_output, sandmap::DEFAULT_MAX_OUTPUT);
/// # Ok::<(), sandmap::BuildError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Config {
    /// Worker threads per run.
    pub jobs: usize,
    /// Per-record limits.
    pub limits: Limits,
    /// What the plugin may touch.
    pub grants: Grants,
    /// A command plugin's arguments after its name, the same for every
    /// record.
    pub args: Vec<String>,
    /// Every record from a fresh instance's state, instead of one instance
    /// reused per worker with its state.
    pub isolate: bool,
    /// Deterministic mode and its seed: every record from a fresh
    /// instance's state,
    /// with fixed clocks and random bytes seeded by (seed, record index).
    pub deterministic: Option<u64>,
    /// The order results come back in.
    pub order: Order,
    /// The byte between records when reading from a reader.
    pub delimiter: u8,
    /// Which failures get another attempt.
    pub retry: Retry,
    /// Measure each record: wall time, fuel, memory.
    pub stats: bool,
    /// Run only the records of this shard.
    pub shard: Option<Shard>,
    /// Bytes of results held between the workers and the reader of the
    /// results before workers wait (each worker may add one record's
    /// output past it).
    pub max_in_flight: u64,
}

impl Config {
    /// Whether each record gets a fresh instance.
    pub(crate) fn fresh_instances(&self) -> bool {
        self.isolate || self.deterministic.is_some()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            jobs: 1,
            limits: Limits::default(),
            grants: Grants::default(),
            args: Vec::new(),
            isolate: false,
            deterministic: None,
            order: Order::Input,
            delimiter: b'\n',
            retry: Retry::default(),
            stats: false,
            shard: None,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        }
    }
}
