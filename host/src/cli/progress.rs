//! The progress display of a run on a terminal: for a file input, the
//! fraction of its bytes read, records done, rate, failures and time left;
//! for a pipe, a spinner with the same counts. Drawn on stderr, never in
//! the output, and suspended while a whole line is written above it.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often the counts in the display are refreshed.
const REFRESH: Duration = Duration::from_millis(100);

/// A reader that counts the bytes read through it.
pub struct Counted<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R> Counted<R> {
    /// Counts what is read from `inner` into `count`.
    pub fn new(inner: R, count: Arc<AtomicU64>) -> Self {
        Counted { inner, count }
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.count.fetch_add(read as u64, Ordering::Relaxed);
        Ok(read)
    }
}

/// What the input is, for the display.
pub enum InputSize {
    /// A file of this many bytes, read through a counter.
    File { total: u64, read: Arc<AtomicU64> },
    /// A pipe or terminal: no end known.
    Unknown,
}

/// The display.
pub struct Progress {
    bar: ProgressBar,
    read: Option<Arc<AtomicU64>>,
    started: Instant,
    refreshed: Instant,
}

impl Progress {
    /// A display on stderr for an input of `size`.
    pub fn new(size: InputSize) -> Self {
        let target = ProgressDrawTarget::stderr_with_hz(10);
        let (bar, read, template) = match size {
            InputSize::File { total, read } => (
                ProgressBar::with_draw_target(Some(total), target),
                Some(read),
                "{percent:>3}% {wide_bar} {msg}  ETA {eta}",
            ),
            InputSize::Unknown => (
                ProgressBar::with_draw_target(None, target),
                None,
                "{spinner} {msg}  {elapsed}",
            ),
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.enable_steady_tick(REFRESH);
        let now = Instant::now();
        Progress {
            bar,
            read,
            started: now,
            refreshed: now,
        }
    }

    /// Shows the counts after a result (at most every [`REFRESH`]).
    pub fn update(&mut self, done: u64, failed: u64) {
        let now = Instant::now();
        if now.duration_since(self.refreshed) < REFRESH {
            return;
        }
        self.refreshed = now;
        if let Some(read) = &self.read {
            self.bar.set_position(read.load(Ordering::Relaxed));
        }
        let seconds = now.duration_since(self.started).as_secs_f64().max(1e-3);
        self.bar.set_message(format!(
            "{done} records  {:.0} records/s  {failed} failed",
            done as f64 / seconds
        ));
    }

    /// Runs `write` with the display out of the way.
    pub fn suspend(&self, write: impl FnOnce()) {
        self.bar.suspend(write);
    }

    /// Removes the display.
    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}
