//! Bounded capture of a guest's stdout and stderr.
//!
//! Nothing a guest prints reaches sandmap's own output. A command's stdout
//! is its result, so it is kept whole up to the output cap (64 MiB unless
//! set otherwise), checked on every write, and a write past the cap fails
//! the record as kind `output`. Everything else (a mapper's
//! stdout, every stderr) keeps only its last few KiB, for error messages:
//! a guest that prints 100 MB costs no memory.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

use crate::traps::OutputLimitExceeded;

/// How much of a guest's stderr (or a mapper's stdout) is kept.
pub(crate) const TAIL_BYTES: usize = 4096;

#[derive(Debug)]
enum Mode {
    /// Keep every byte up to `limit`; fail writes past it.
    Whole { limit: u64 },
    /// Keep the last `keep` bytes; never fail.
    Tail { keep: usize },
}

#[derive(Debug)]
struct Buffer {
    mode: Mode,
    bytes: Vec<u8>,
}

impl Buffer {
    fn write(&mut self, data: &[u8]) -> Result<(), OutputLimitExceeded> {
        match self.mode {
            Mode::Whole { limit } => {
                if (self.bytes.len() as u64).saturating_add(data.len() as u64) > limit {
                    return Err(OutputLimitExceeded { limit });
                }
                self.bytes.extend_from_slice(data);
            }
            Mode::Tail { keep } => {
                let data = &data[data.len().saturating_sub(keep)..];
                let overflow = (self.bytes.len() + data.len()).saturating_sub(keep);
                self.bytes.drain(..overflow.min(self.bytes.len()));
                self.bytes.extend_from_slice(data);
            }
        }
        Ok(())
    }
}

/// One captured guest stream. Clones share the buffer: the host keeps one
/// clone and gives another to the guest's WASI context.
#[derive(Debug, Clone)]
pub(crate) struct Capture {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// Whether anything was written since the last `take`/`clear`: most
    /// guests print nothing, and then the lock is never taken.
    written: AtomicBool,
    buffer: Mutex<Buffer>,
}

impl Capture {
    /// A capture that keeps up to `limit` bytes and fails writes past it.
    pub fn whole(limit: u64) -> Self {
        Self::with_mode(Mode::Whole { limit })
    }

    /// A capture that keeps only the last [`TAIL_BYTES`] bytes.
    pub fn tail() -> Self {
        Self::with_mode(Mode::Tail { keep: TAIL_BYTES })
    }

    fn with_mode(mode: Mode) -> Self {
        Capture {
            shared: Arc::new(Shared {
                written: AtomicBool::new(false),
                buffer: Mutex::new(Buffer {
                    mode,
                    bytes: Vec::new(),
                }),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Buffer> {
        // A poisoned lock only means a panic elsewhere mid-write; the bytes
        // are still a valid (if partial) capture.
        self.shared.buffer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes `data` (what the guest's stream does).
    fn write(&self, data: &[u8]) -> Result<(), OutputLimitExceeded> {
        self.shared.written.store(true, Ordering::Relaxed);
        self.lock().write(data)
    }

    /// Takes what was captured, leaving the capture empty for the next
    /// record.
    pub fn take(&self) -> Vec<u8> {
        if !self.shared.written.swap(false, Ordering::Relaxed) {
            return Vec::new();
        }
        std::mem::take(&mut self.lock().bytes)
    }

    /// Forgets what was captured.
    pub fn clear(&self) {
        if self.shared.written.swap(false, Ordering::Relaxed) {
            self.lock().bytes.clear();
        }
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

#[wasmtime_wasi::async_trait]
impl OutputStream for Capture {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        Capture::write(self, &bytes).map_err(|e| StreamError::Trap(wasmtime::Error::new(e)))
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        // Always ready: a write past the cap is refused by `write` with a
        // typed error, so the record fails as `output` rather than seeing a
        // closed stream it might ignore.
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for Capture {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(
            Capture::write(&self, buf)
                .map(|()| buf.len())
                .map_err(std::io::Error::other),
        )
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_only_the_last_bytes() {
        let capture = Capture::tail();
        for _ in 0..100 {
            capture.write(&[b'a'; 1000]).unwrap();
        }
        capture.write(b"END").unwrap();
        let kept = capture.take();
        assert_eq!(kept.len(), TAIL_BYTES);
        assert!(kept.ends_with(b"aEND"));
        assert!(capture.take().is_empty());
    }

    #[test]
    fn whole_refuses_writes_past_the_limit() {
        let capture = Capture::whole(10);
        capture.write(b"0123456789").unwrap();
        assert!(capture.write(b"x").is_err());
        assert_eq!(capture.take(), b"0123456789");
    }
}
