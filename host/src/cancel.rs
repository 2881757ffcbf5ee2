//! Stopping a run: the cancel token every worker watches, and the one
//! engine-wide epoch ticker that lets per-record deadlines fire.
//!
//! A compute-bound guest is stopped from inside wasmtime: each store's epoch
//! deadline callback checks the cancel flag and the record's own deadline.
//! A guest blocked in a host call (a WASI sleep) is stopped from outside: the
//! call's future is raced against [`CancelToken::cancelled`] and a timer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

/// How often the epoch ticker advances the engine's epoch; the resolution
/// of `--timeout` for compute-bound guests.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(1);

/// A handle that stops a run from any thread. Cheap to clone.
///
/// After [`cancel`](CancelToken::cancel) no new record starts, every
/// running record is interrupted (compute loops and blocked host calls
/// alike), and the results iterator ends after yielding what finished.
#[derive(Clone)]
pub struct CancelToken {
    inner: Arc<CancelState>,
}

struct CancelState {
    cancelled: AtomicBool,
    notify: tokio::sync::Notify,
    engine: wasmtime::Engine,
    /// Dropped on cancel, so that threads blocked on a channel wake up.
    wake: Mutex<Option<Sender<()>>>,
    woken: Receiver<()>,
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
        let (wake, woken) = crossbeam_channel::bounded(0);
        CancelToken {
            inner: Arc::new(CancelState {
                cancelled: AtomicBool::new(false),
                notify: tokio::sync::Notify::new(),
                engine: engine.clone(),
                wake: Mutex::new(Some(wake)),
                woken,
            }),
        }
    }

    /// Stops the run. Idempotent; safe to call from any thread, including
    /// a signal-handling thread.
    pub fn cancel(&self) {
        if self.inner.cancelled.swap(true, Ordering::SeqCst) {
            return;
        }
        // Compute-bound guests: force every store to its deadline callback.
        self.inner.engine.increment_epoch();
        // Guests blocked in host calls: wake the futures racing them.
        self.inner.notify.notify_waiters();
        // Threads blocked on channels.
        if let Ok(mut wake) = self.inner.wake.lock() {
            wake.take();
        }
    }

    /// Whether [`cancel`](CancelToken::cancel) has been called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    /// A channel that disconnects when the run is cancelled, for
    /// `crossbeam_channel::select!`.
    pub(crate) fn woken(&self) -> &Receiver<()> {
        &self.inner.woken
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

/// Advances an engine's epoch every [`EPOCH_TICK`] until dropped. One per
/// run, shared by all its stores; each store's deadline callback decides
/// whether its own record is over time, so one record's timeout never
/// interrupts another's.
pub(crate) struct EpochTicker {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub fn start(engine: &wasmtime::Engine) -> std::io::Result<Self> {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let engine = engine.clone();
        let thread = std::thread::Builder::new()
            .name("sandmap-epoch".into())
            .spawn(move || {
                while let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(EPOCH_TICK)
                {
                    engine.increment_epoch();
                }
            })?;
        Ok(EpochTicker {
            stop: Some(stop),
            thread: Some(thread),
        })
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
