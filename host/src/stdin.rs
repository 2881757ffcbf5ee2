//! A command's stdin that can be handed the next record: what lets a kept
//! instance keep its WASI context too (see `warm.rs`). Every stream made
//! from it reads the same bytes, then end of file.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, ReadBuf};
use wasmtime_wasi::cli::{IsTerminal, StdinStream};
use wasmtime_wasi::p2::{InputStream, Pollable, StreamError, StreamResult};

/// The record a command reads on stdin, replaceable between records.
#[derive(Debug, Clone, Default)]
pub(crate) struct RecordStdin {
    unread: Arc<Mutex<Bytes>>,
}

impl RecordStdin {
    /// Stdin holding `record`, then end of file.
    pub fn new(record: Bytes) -> Self {
        RecordStdin {
            unread: Arc::new(Mutex::new(record)),
        }
    }

    /// Makes `record` what stdin holds, whatever was left unread.
    pub fn set(&self, record: Bytes) {
        *self.lock() = record;
    }

    fn lock(&self) -> MutexGuard<'_, Bytes> {
        self.unread.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Up to `size` of the bytes not read yet.
    fn take(&self, size: usize) -> Bytes {
        let mut unread = self.lock();
        let size = size.min(unread.len());
        unread.split_to(size)
    }
}

#[wasmtime_wasi::async_trait]
impl InputStream for RecordStdin {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        let bytes = self.take(size);
        if bytes.is_empty() && size > 0 {
            return Err(StreamError::Closed);
        }
        Ok(bytes)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for RecordStdin {
    async fn ready(&mut self) {}
}

impl AsyncRead for RecordStdin {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let bytes = self.take(buf.remaining());
        buf.put_slice(&bytes);
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for RecordStdin {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdinStream for RecordStdin {
    fn async_stream(&self) -> Box<dyn AsyncRead + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn InputStream> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stream_reads_the_record_once_then_the_next_one() {
        let stdin = RecordStdin::new(Bytes::from_static(b"hello"));
        let mut a = stdin.p2_stream();
        let mut b = stdin.p2_stream();
        assert_eq!(&a.read(3).unwrap()[..], b"hel");
        assert_eq!(&b.read(10).unwrap()[..], b"lo");
        assert!(matches!(a.read(10), Err(StreamError::Closed)));
        // Zero bytes asked: zero bytes, not the end.
        assert!(a.read(0).unwrap().is_empty());
        stdin.set(Bytes::from_static(b"next"));
        assert_eq!(&a.read(10).unwrap()[..], b"next");
        // What a record left unread does not reach the next one.
        stdin.set(Bytes::from_static(b"abc"));
        assert_eq!(&b.read(1).unwrap()[..], b"a");
        stdin.set(Bytes::from_static(b"xyz"));
        assert_eq!(&b.read(10).unwrap()[..], b"xyz");
    }
}
