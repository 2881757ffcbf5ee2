//! The in-flight budget of a run, in bytes: what keeps memory bounded
//! whatever the plugin returns and however the input is shaped.
//!
//! Two budgets. *Input*: bytes of records dispatched to the workers and not
//! yet run; the feeder waits before it goes over. *Output*: bytes of
//! results the workers have handed over and the reader of the results has
//! not yet taken; a worker does not start a record while it is over,
//! except the record the reader is waiting for (the *head*, in input
//! order), so the run can always move on. A worker hands over what it has
//! before it stops, so everything counted against the budget is there for
//! the reader to take. Held at most: the budget, plus one record's output
//! per worker.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

/// Bytes of input dispatched and not yet run, before the feeder waits.
pub(crate) const INPUT_BUDGET: u64 = 16 << 20;

/// The budgets of one run.
#[derive(Debug)]
pub(crate) struct Window {
    input_held: AtomicU64,
    output_held: AtomicU64,
    output_limit: u64,
    /// The ordinal the reader waits for next (`u64::MAX`: any).
    head: AtomicU64,
    closed: AtomicBool,
    waiters: AtomicUsize,
    lock: Mutex<()>,
    cond: Condvar,
}

impl Window {
    /// A window whose output budget is `output_limit` bytes; `ordered`
    /// when the reader takes results in input order.
    pub fn new(output_limit: u64, ordered: bool) -> Self {
        Window {
            input_held: AtomicU64::new(0),
            output_held: AtomicU64::new(0),
            output_limit,
            head: AtomicU64::new(if ordered { 0 } else { u64::MAX }),
            closed: AtomicBool::new(false),
            waiters: AtomicUsize::new(0),
            lock: Mutex::new(()),
            cond: Condvar::new(),
        }
    }

    /// Waits until `cost` more bytes of input fit (a record that is larger
    /// than the whole budget fits once nothing else is held). `false` if
    /// the window was closed (the run stopped).
    pub fn acquire_input(&self, cost: u64) -> bool {
        let fits = || {
            let held = self.input_held.load(Ordering::SeqCst);
            held == 0 || held.saturating_add(cost) <= INPUT_BUDGET
        };
        if !self.wait_until(fits) {
            return false;
        }
        self.input_held.fetch_add(cost, Ordering::SeqCst);
        true
    }

    /// Gives back input bytes of records that have run.
    pub fn release_input(&self, cost: u64) {
        self.input_held.fetch_sub(cost, Ordering::SeqCst);
        self.wake();
    }

    /// Whether a worker may start the record with ordinal `ord`.
    pub fn may_start(&self, ord: u64) -> bool {
        self.output_held.load(Ordering::SeqCst) < self.output_limit
            || self.head.load(Ordering::SeqCst) == ord
    }

    /// Whether work set aside for the budget should come back: the budget
    /// is down to half (so that a worker gets a good stretch of records,
    /// not one at a time), or the reader now waits for `ord`.
    pub fn should_resume(&self, ord: u64) -> bool {
        self.output_held.load(Ordering::SeqCst) <= self.output_limit / 2
            || self.head.load(Ordering::SeqCst) == ord
    }

    /// Counts results handed to the reader.
    pub fn charge_output(&self, cost: u64) {
        self.output_held.fetch_add(cost, Ordering::SeqCst);
    }

    /// The reader took results worth `cost` and now waits for ordinal
    /// `head` (ignored when results come in any order).
    pub fn release_output(&self, cost: u64, head: u64) {
        self.output_held.fetch_sub(cost, Ordering::SeqCst);
        if self.head.load(Ordering::Relaxed) != u64::MAX {
            self.head.store(head, Ordering::SeqCst);
        }
    }

    /// Stops every wait.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// Bytes of output held now (for tests).
    #[cfg(test)]
    pub fn output_held(&self) -> u64 {
        self.output_held.load(Ordering::SeqCst)
    }

    /// Blocks until `ready()` or the window is closed. A waiter announces
    /// itself before its last check, and a waker looks for waiters after
    /// its change, so no wake-up is lost and a wake-up costs nothing when
    /// nobody waits.
    fn wait_until(&self, ready: impl Fn() -> bool) -> bool {
        if ready() {
            return true;
        }
        let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let result = loop {
            if self.closed.load(Ordering::SeqCst) {
                break false;
            }
            if ready() {
                break true;
            }
            guard = self.cond.wait(guard).unwrap_or_else(|e| e.into_inner());
        };
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        result
    }

    fn wake(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.cond.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn the_feeder_waits_for_input_room_and_a_close_releases_it() {
        let window = Arc::new(Window::new(100, true));
        assert!(window.acquire_input(INPUT_BUDGET - 10));
        // A huge record fits alone, not on top of others.
        let waiting = {
            let window = window.clone();
            std::thread::spawn(move || window.acquire_input(INPUT_BUDGET * 4))
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiting.is_finished());
        window.release_input(INPUT_BUDGET - 10);
        assert!(waiting.join().unwrap());
        let blocked = {
            let window = window.clone();
            std::thread::spawn(move || window.acquire_input(1))
        };
        std::thread::sleep(Duration::from_millis(50));
        window.close();
        assert!(!blocked.join().unwrap());
    }

    #[test]
    fn only_the_head_may_start_over_budget() {
        let window = Window::new(100, true);
        window.charge_output(150);
        assert!(window.may_start(0));
        assert!(!window.may_start(1));
        window.release_output(100, 7);
        assert!(window.may_start(8));
        assert_eq!(window.output_held(), 50);
        let unordered = Window::new(100, false);
        unordered.charge_output(150);
        assert!(!unordered.may_start(0));
    }
}
