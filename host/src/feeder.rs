//! The feeder of a run: reads records (from an iterator or a reader),
//! picks the ones the run selects, cuts them into batches and dispatches
//! them, on its own thread; then tells the reader how many it dispatched
//! and why it stopped early, if it did.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use crate::batch::Batcher;
use crate::config::Shard;
use crate::error::RunError;
use crate::framing::Framer;
use crate::run::{RunMessage, RunShared, Selector, Source, panic_message};

/// Cuts the records of `source` into batches and dispatches them, on its
/// own thread; then tells the reader how many it dispatched and why it
/// stopped early, if it did.
pub(crate) fn start_feeder(
    run: Arc<RunShared>,
    source: Source,
    shard: Option<Shard>,
    selector: Option<Selector>,
    hash_records: bool,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("sandmap-feeder".into())
        .spawn(move || {
            let mut feeder = Feeder {
                run: run.clone(),
                batcher: Batcher::new(hash_records),
                shard,
                selector,
            };
            let fed = std::panic::catch_unwind(AssertUnwindSafe(|| feeder.feed(source)));
            let error = match fed {
                Ok(Ok(())) => None,
                Ok(Err(error)) => Some(error),
                Err(panic) => Some(RunError::SourcePanicked(panic_message(&panic))),
            };
            // Counted where tasks are sent: a batch cut but not sent (the
            // run was cancelled meanwhile) has no results to wait for.
            let dispatched = run.dispatched();
            let _ = run.messages.send(RunMessage::End { dispatched, error });
        })
        .map(|_| ())
}

struct Feeder {
    run: Arc<RunShared>,
    batcher: Batcher,
    shard: Option<Shard>,
    selector: Option<Selector>,
}

impl Feeder {
    fn feed(&mut self, source: Source) -> Result<(), RunError> {
        match source {
            Source::Items(items) => {
                items(&mut |index, record| self.offer(index, record))?;
                self.flush();
                self.finish()
            }
            Source::Reader {
                reader,
                delimiter,
                max_record,
            } => {
                let mut framer = Framer::new(reader, delimiter, max_record);
                loop {
                    if self.run.cancel.is_cancelled() {
                        return Ok(());
                    }
                    let index = framer.next_index();
                    match framer.next_buffered() {
                        Ok(Some(record)) => {
                            if !self.offer(index, record)? {
                                return Ok(());
                            }
                            continue;
                        }
                        Ok(None) => {}
                        Err(error) => {
                            self.flush();
                            return Err(error);
                        }
                    }
                    // Do not sit on records while waiting for more input.
                    self.flush();
                    if framer.at_end() {
                        return self.finish();
                    }
                    framer.read_more()?;
                }
            }
        }
    }

    /// Takes record `index` into a batch if it is selected; `Ok(false)`
    /// when the run is over.
    fn offer(&mut self, index: u64, record: &[u8]) -> Result<bool, RunError> {
        if self.shard.is_some_and(|shard| !shard.contains(index)) {
            return Ok(true);
        }
        if let Some(selector) = &mut self.selector
            && !selector.select(index, record)?
        {
            return Ok(true);
        }
        let per_batch = self.run.sizer.records_per_batch();
        match self.batcher.push(index, record, per_batch) {
            Some(batch) => Ok(self.run.dispatch(batch)),
            None => Ok(true),
        }
    }

    /// The whole input was read: the selector may still object.
    fn finish(&mut self) -> Result<(), RunError> {
        if self.run.cancel.is_cancelled() {
            return Ok(());
        }
        match &mut self.selector {
            Some(selector) => selector.finish(),
            None => Ok(()),
        }
    }

    fn flush(&mut self) {
        if let Some(batch) = self.batcher.take() {
            self.run.dispatch(batch);
        }
    }
}
