//! SIGINT and SIGTERM. Before a run starts (while a plugin compiles, say)
//! a signal ends the process at once, as it would without sandmap's
//! handlers. During a run the first one stops it cleanly and a second one
//! ends the process at once.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

use sandmap::CancelToken;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::exit::Exit;

/// Watches for SIGINT/SIGTERM.
pub struct SignalWatch {
    received: Arc<AtomicI32>,
    run: Arc<Mutex<Option<CancelToken>>>,
    handle: signal_hook::iterator::Handle,
}

impl SignalWatch {
    /// Starts watching.
    ///
    /// # Errors
    /// When the handlers cannot be installed.
    pub fn start() -> std::io::Result<Self> {
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        let handle = signals.handle();
        let received = Arc::new(AtomicI32::new(0));
        let run: Arc<Mutex<Option<CancelToken>>> = Arc::new(Mutex::new(None));
        let (seen, watched) = (received.clone(), run.clone());
        std::thread::Builder::new()
            .name("sandmap-signals".into())
            .spawn(move || {
                for signal in signals.forever() {
                    let first = seen
                        .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
                        .is_ok();
                    let token = watched.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    match token {
                        Some(token) if first => token.cancel(),
                        _ => die_of(signal),
                    }
                }
            })?;
        Ok(SignalWatch {
            received,
            run,
            handle,
        })
    }

    /// From now on, the first signal stops the run `cancel` stops.
    pub fn watch(&self, cancel: CancelToken) {
        *self.run.lock().unwrap_or_else(|e| e.into_inner()) = Some(cancel);
    }

    /// The name of the signal that stopped the run, if one did.
    pub fn received(&self) -> Option<&'static str> {
        match self.received.load(Ordering::SeqCst) {
            0 => None,
            SIGINT => Some("SIGINT"),
            SIGTERM => Some("SIGTERM"),
            _ => Some("a signal"),
        }
    }

    /// Stops watching (signals get their default action again) and, if a
    /// signal stopped the run, dies of it so the parent sees the signal.
    pub fn finish(self) {
        self.handle.close();
        match self.received.load(Ordering::SeqCst) {
            0 => {}
            signal => die_of(signal),
        }
    }
}

/// Ends the process as `signal` would, so the parent sees it.
fn die_of(signal: i32) -> ! {
    let _ = std::io::Write::flush(&mut std::io::stderr());
    let _ = signal_hook::low_level::emulate_default_handler(signal);
    std::process::exit(i32::from(Exit::Signal(signal).code()));
}
