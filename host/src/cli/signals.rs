//! SIGINT and SIGTERM: the first one stops the run cleanly, a second one
//! ends the process at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use sandmap::CancelToken;

use super::exit::Exit;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Watches for SIGINT/SIGTERM while a run goes on.
pub struct SignalWatch {
    received: Arc<AtomicI32>,
    handle: signal_hook::iterator::Handle,
}

impl SignalWatch {
    /// Starts watching: the first signal cancels `cancel`; a second one
    /// kills the process with that signal's default action.
    ///
    /// # Errors
    /// When the handlers cannot be installed.
    pub fn start(cancel: CancelToken) -> std::io::Result<Self> {
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        let handle = signals.handle();
        let received = Arc::new(AtomicI32::new(0));
        let seen = received.clone();
        std::thread::Builder::new()
            .name("sandmap-signals".into())
            .spawn(move || {
                for signal in signals.forever() {
                    if seen
                        .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
                        .is_ok()
                    {
                        cancel.cancel();
                    } else {
                        let _ = signal_hook::low_level::emulate_default_handler(signal);
                        std::process::exit(i32::from(Exit::Signal(signal).code()));
                    }
                }
            })?;
        Ok(SignalWatch { received, handle })
    }

    /// The signal that stopped the run, if one did.
    pub fn received(&self) -> Option<i32> {
        match self.received.load(Ordering::SeqCst) {
            0 => None,
            signal => Some(signal),
        }
    }

    /// Stops watching (signals get their default action again) and, if a
    /// signal stopped the run, dies of it so the parent sees the signal.
    pub fn finish(self) {
        self.handle.close();
        if let Some(signal) = self.received() {
            let _ = signal_hook::low_level::emulate_default_handler(signal);
            std::process::exit(i32::from(Exit::Signal(signal).code()));
        }
    }
}

/// The usual name of a signal number.
pub fn name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}
