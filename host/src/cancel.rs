//! Stopping: the cancel token of a run, the engine-wide epoch ticker, and
//! the race that stops a guest blocked in a host call.
//!
//! A compute-bound guest is stopped from inside wasmtime: every store's
//! epoch deadline callback runs at least once per tick of the ticker and
//! checks the cancel flag of the record's run and the record's own
//! deadline. Because the ticker always runs while a pool has workers, a
//! cancel can never be missed, whatever the interleaving: at worst it is
//! seen one tick later. (`cancel` also bumps the epoch at once, so it is
//! usually seen at the next loop back-edge.) A guest blocked in a host
//! call is stopped from outside: the call's future is raced against the
//! token and a timer.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::traps::Stopped;

/// How often the epoch ticker advances the engine's epoch: the resolution
/// of timeouts for compute-bound guests, and the longest a cancel can take
/// to reach one.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(1);

type Hook = Box<dyn Fn() + Send + Sync>;

/// A handle that stops a run from any thread. Cheap to clone.
///
/// After [`cancel`](CancelToken::cancel) no new record starts, every
/// running record is interrupted (compute loops and blocked host calls
/// alike), and the results iterator ends after yielding what finished.
///
/// ```
/// # let upper = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/upper-wat/upper.wat");
/// use sandmap::{ErrorKind, Pool};
///
/// let pool = Pool::builder(upper).build()?;
/// // An endless input: only a cancel ends this run.
/// let results = pool.map(std::iter::repeat("record"));
/// let cancel = results.cancel_token();
/// std::thread::spawn(move || {
///     std::thread::sleep(std::time::Duration::from_millis(50));
///     cancel.cancel();
/// });
/// let mut finished = 0;
/// for result in results {
///     match result?.outcome {
///         Ok(_) => finished += 1,
///         Err(error) => assert_eq!(error.kind, ErrorKind::Interrupted),
///     }
/// }
/// assert!(finished > 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct CancelToken {
    inner: Arc<CancelState>,
}

struct CancelState {
    cancelled: AtomicBool,
    notify: tokio::sync::Notify,
    engine: wasmtime::Engine,
    /// Called once on cancel: wakes threads waiting on the run's budgets.
    hooks: Mutex<Vec<Hook>>,
}

impl std::fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl CancelToken {
    pub(crate) fn new(engine: &wasmtime::Engine) -> Self {
        CancelToken {
            inner: Arc::new(CancelState {
                cancelled: AtomicBool::new(false),
                notify: tokio::sync::Notify::new(),
                engine: engine.clone(),
                hooks: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Stops the run. Idempotent; safe to call from any thread, including
    /// a signal-handling thread.
    pub fn cancel(&self) {
        if self.inner.cancelled.swap(true, Ordering::SeqCst) {
            return;
        }
        // Compute-bound guests: send every store to its deadline callback.
        self.inner.engine.increment_epoch();
        // Guests blocked in host calls: wake the futures racing them.
        self.inner.notify.notify_waiters();
        let hooks =
            std::mem::take(&mut *self.inner.hooks.lock().unwrap_or_else(|e| e.into_inner()));
        for hook in hooks {
            hook();
        }
    }

    /// Whether [`cancel`](CancelToken::cancel) has been called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    /// Runs `hook` on cancel (at once, if already cancelled).
    pub(crate) fn on_cancel(&self, hook: impl Fn() + Send + Sync + 'static) {
        let mut hooks = self.inner.hooks.lock().unwrap_or_else(|e| e.into_inner());
        if self.is_cancelled() {
            drop(hooks);
            hook();
        } else {
            hooks.push(Box::new(hook));
        }
    }

    /// A handle that does not keep the run's state alive.
    pub(crate) fn downgrade(&self) -> WeakCancelToken {
        WeakCancelToken(Arc::downgrade(&self.inner))
    }

    /// Whether two tokens stop the same run.
    pub(crate) fn same_run(&self, other: &CancelToken) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Resolves once the run is cancelled.
    pub(crate) async fn cancelled(&self) {
        loop {
            let notified = self.inner.notify.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

/// A [`CancelToken`] that does not keep its run's state alive.
#[derive(Clone)]
pub(crate) struct WeakCancelToken(std::sync::Weak<CancelState>);

impl WeakCancelToken {
    /// The token, if its run still exists.
    pub fn upgrade(&self) -> Option<CancelToken> {
        self.0.upgrade().map(|inner| CancelToken { inner })
    }
}

/// Advances an engine's epoch every [`EPOCH_TICK`] until dropped, and
/// counts the ticks (a clock that costs one atomic load to read). One per
/// pool, shared by all its stores; each store's deadline callback decides
/// whether its own record is over time or cancelled, so one record's
/// timeout never interrupts another's.
pub(crate) struct EpochTicker {
    ticks: Arc<AtomicU64>,
    stop: Option<crossbeam_channel::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub fn start(engine: &wasmtime::Engine) -> std::io::Result<Self> {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let engine = engine.clone();
        let ticks = Arc::new(AtomicU64::new(0));
        let counter = ticks.clone();
        let thread = std::thread::Builder::new()
            .name("sandmap-epoch".into())
            .spawn(move || {
                while let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(EPOCH_TICK)
                {
                    engine.increment_epoch();
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })?;
        Ok(EpochTicker {
            ticks,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The tick counter.
    pub fn ticks(&self) -> Arc<AtomicU64> {
        self.ticks.clone()
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs `call` until it finishes, the record's time runs out, or the run
/// is cancelled, whichever comes first. The timer here catches guests
/// blocked in host calls; compute-bound guests are stopped from inside by
/// the epoch callback, with the same deadline.
///
/// Most calls never wait on the host: they finish on their first poll and
/// skip the timer and the cancel future altogether.
pub(crate) async fn race<T>(
    call: impl Future<Output = wasmtime::Result<T>>,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    cancel: &CancelToken,
) -> wasmtime::Result<T> {
    let mut call = std::pin::pin!(call);
    let first = std::future::poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await;
    if let Poll::Ready(result) = first {
        return result;
    }
    let deadline = deadline.map(tokio::time::Instant::from_std);
    tokio::select! {
        biased;
        result = call => result,
        () = cancel.cancelled() => Err(wasmtime::Error::new(Stopped::Interrupted)),
        () = sleep_until(deadline) => {
            Err(wasmtime::Error::new(Stopped::Timeout(timeout.unwrap_or_default())))
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
