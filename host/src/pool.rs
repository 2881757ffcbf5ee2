//! The pool: a loaded plugin and its settings, with worker threads started
//! on first use and shared by every run. Each call to [`Pool::map`] or
//! [`Pool::map_reader`] is one run with its own feeder thread, budget and
//! results; any number of runs may go on at once, from any threads.

use std::io::Read;
use std::sync::{Arc, Mutex};

use crate::cancel::{CancelToken, WeakCancelToken};
use crate::config::Config;
use crate::error::RunError;
use crate::feeder::start_feeder;
use crate::plugin::{Plugin, PluginInfo};
use crate::results::Results;
use crate::run::{RunMessage, RunShared, Selector, Source};
use crate::wasi::WasiSetup;
use crate::workers::Workers;

/// A plugin and the settings to run it, with its worker threads. Cheap to
/// clone (clones share everything) and usable from any thread.
///
/// ```
/// # let upper = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/upper-wat/upper.wat");
/// use std::time::Duration;
///
/// let pool = sandmap::Pool::builder(upper)
///     .jobs(2)
///     .timeout(Duration::from_secs(1))
///     .build()?;
/// for result in pool.map(["hello", "world"]) {
///     let result = result?;
///     match result.outcome {
///         Ok(output) => println!("{}: {}", result.index, String::from_utf8_lossy(&output)),
///         Err(error) => eprintln!("{}: {} ({})", result.index, error, error.kind),
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Pool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    plugin: Plugin,
    config: Arc<Config>,
    wasi: Arc<WasiSetup>,
    /// Started by the first run, kept while the pool lives.
    workers: Mutex<Option<Arc<Workers>>>,
    /// The runs that may still be going, for [`Pool::cancel`].
    runs: Mutex<Vec<WeakCancelToken>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("plugin", &self.inner.plugin.info().name)
            .field("config", &self.inner.config)
            .finish()
    }
}

impl Pool {
    pub(crate) fn from_parts(plugin: Plugin, config: Config, wasi: WasiSetup) -> Self {
        Pool {
            inner: Arc::new(PoolInner {
                plugin,
                config: Arc::new(config),
                wasi: Arc::new(wasi),
                workers: Mutex::new(None),
                runs: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The settings this pool runs with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// What the plugin is.
    pub fn plugin(&self) -> &PluginInfo {
        self.inner.plugin.info()
    }

    /// Runs the plugin over `records`, giving their results as an
    /// iterator. Records are taken from `records` on a separate thread as
    /// the workers need them, so an endless iterator is fine.
    ///
    /// ```
    /// # let upper = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/upper-wat/upper.wat");
    /// let pool = sandmap::Pool::builder(upper).build()?;
    /// let outputs: Vec<Vec<u8>> = pool
    ///     .map(vec![b"a".to_vec(), b"b".to_vec()])
    ///     .map(|result| result.map(|r| r.outcome.unwrap_or_default()))
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!(outputs, [b"A".to_vec(), b"B".to_vec()]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map<I>(&self, records: I) -> Results
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
        I::IntoIter: Send + 'static,
    {
        let records = records.into_iter();
        let source = Source::Items(Box::new(move |offer| {
            for (index, record) in (0u64..).zip(records) {
                if !offer(index, record.as_ref())? {
                    break;
                }
            }
            Ok(())
        }));
        self.start(source, None, false)
    }

    /// Runs the plugin over the records read from `reader`, separated by
    /// the configured delimiter (a final delimiter makes no empty record).
    /// Results of what has been read flow while the rest is still being
    /// read; a record longer than the longest allowed ends the run with
    /// [`RunError::RecordTooLong`] after the results before it.
    ///
    /// The reader is read on a thread of the run. A cancel (or dropping
    /// the results) ends the run at once even while that thread is
    /// blocked in `read` (a quiet pipe or socket): the results end, and
    /// the thread and the reader are let go of when that `read` returns.
    ///
    /// ```
    /// # let upper = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/upper-wat/upper.wat");
    /// let pool = sandmap::Pool::builder(upper).build()?;
    /// let input = std::io::Cursor::new(b"one\ntwo\n".to_vec());
    /// let mut outputs = Vec::new();
    /// for result in pool.map_reader(input) {
    ///     outputs.push(result?.outcome?);
    /// }
    /// assert_eq!(outputs, [b"ONE".to_vec(), b"TWO".to_vec()]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_reader<R: Read + Send + 'static>(&self, reader: R) -> Results {
        let source = Source::Reader {
            reader: Box::new(reader),
            delimiter: self.inner.config.delimiter,
            max_record: self.inner.config.limits.max_record,
        };
        self.start(source, None, false)
    }

    /// Starts a run over the records of `reader`, skipping what `selector`
    /// does not select; `hash_records` keeps each record's CRC-32C in its
    /// result.
    pub(crate) fn start_reader(
        &self,
        reader: Box<dyn Read + Send>,
        selector: Option<Selector>,
        hash_records: bool,
    ) -> Results {
        let source = Source::Reader {
            reader,
            delimiter: self.inner.config.delimiter,
            max_record: self.inner.config.limits.max_record,
        };
        self.start(source, selector, hash_records)
    }

    /// Stops every run of this pool that is still going. The pool stays
    /// usable: later runs start as usual.
    pub fn cancel(&self) {
        let runs = std::mem::take(&mut *self.inner.runs.lock().unwrap_or_else(|e| e.into_inner()));
        for run in runs {
            if let Some(token) = run.upgrade() {
                token.cancel();
            }
        }
    }

    /// Starts a run.
    pub(crate) fn start(
        &self,
        source: Source,
        selector: Option<Selector>,
        hash_records: bool,
    ) -> Results {
        let inner = &self.inner;
        let cancel = CancelToken::new(inner.plugin.engine().wasmtime());
        let (messages, received) = crossbeam_channel::unbounded();
        let workers = match self.workers() {
            Ok(workers) => workers,
            Err(error) => return Results::failed(error, cancel, messages, received),
        };
        let run = RunShared::new(
            &inner.config,
            cancel.clone(),
            messages.clone(),
            workers.queue(),
            workers.ticks(),
        );
        {
            let mut runs = inner.runs.lock().unwrap_or_else(|e| e.into_inner());
            runs.retain(|run| run.upgrade().is_some_and(|t| !t.is_cancelled()));
            runs.push(cancel.downgrade());
        }
        if let Err(e) = start_feeder(
            run.clone(),
            source,
            inner.config.shard,
            selector,
            hash_records,
        ) {
            let _ = messages.send(RunMessage::End {
                dispatched: 0,
                error: Some(RunError::Internal(format!(
                    "cannot start the feeder thread: {e}"
                ))),
            });
        }
        Results::new(run, workers, received, inner.config.order)
    }

    fn workers(&self) -> Result<Arc<Workers>, RunError> {
        let inner = &self.inner;
        let mut workers = inner.workers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(workers) = &*workers {
            return Ok(workers.clone());
        }
        let started = Arc::new(Workers::start(&inner.plugin, &inner.config, &inner.wasi)?);
        *workers = Some(started.clone());
        Ok(started)
    }
}
