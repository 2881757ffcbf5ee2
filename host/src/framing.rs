//! Cutting an input stream into records: delimiter-separated, a final
//! delimiter makes no extra empty record, and no record may be longer than
//! the longest allowed, checked exactly, whatever the buffer size.

use std::io::Read;

use crate::error::RunError;

/// How much input is read at a time.
const READ_CHUNK: usize = 256 * 1024;

/// Reads records from `reader` one buffer at a time.
pub(crate) struct Framer<R> {
    reader: R,
    delimiter: u8,
    max_record: u64,
    buffer: Vec<u8>,
    /// Start of the first record not yet handed out.
    start: usize,
    /// End of the bytes read.
    end: usize,
    /// Where the search for the next delimiter resumes.
    scanned: usize,
    /// Index of the next record handed out.
    next_index: u64,
    eof: bool,
    chunk: usize,
}

impl<R: Read> Framer<R> {
    pub fn new(reader: R, delimiter: u8, max_record: u64) -> Self {
        Self::with_chunk(reader, delimiter, max_record, READ_CHUNK)
    }

    /// As [`Framer::new`] with reads of `chunk` bytes (tests use small
    /// ones to cross buffer boundaries often).
    pub fn with_chunk(reader: R, delimiter: u8, max_record: u64, chunk: usize) -> Self {
        Framer {
            reader,
            delimiter,
            max_record,
            buffer: Vec::new(),
            start: 0,
            end: 0,
            scanned: 0,
            next_index: 0,
            eof: false,
            chunk: chunk.max(1),
        }
    }

    /// The index the next record will have.
    pub fn next_index(&self) -> u64 {
        self.next_index
    }

    /// Whether every record has been handed out.
    pub fn at_end(&self) -> bool {
        self.eof && self.start == self.end
    }

    /// The next record already in the buffer, if there is a whole one; at
    /// the end of the input, the last record (without a delimiter).
    ///
    /// # Errors
    /// [`RunError::RecordTooLong`] for a record longer than allowed.
    pub fn next_buffered(&mut self) -> Result<Option<&[u8]>, RunError> {
        let found = memchr::memchr(self.delimiter, &self.buffer[self.scanned..self.end]);
        let record_end = match found {
            Some(offset) => self.scanned + offset,
            None => {
                self.scanned = self.end;
                self.check_length(self.end - self.start)?;
                if !self.eof || self.start == self.end {
                    return Ok(None);
                }
                self.end
            }
        };
        self.check_length(record_end - self.start)?;
        let start = self.start;
        self.start = (record_end + 1).min(self.end);
        if found.is_none() {
            self.start = self.end;
        }
        self.scanned = self.start;
        self.next_index += 1;
        Ok(Some(&self.buffer[start..record_end]))
    }

    /// Reads more input. `Ok(false)` once the input has ended (the last
    /// record, if it had no delimiter, is then available).
    ///
    /// # Errors
    /// [`RunError::Read`] when reading fails.
    pub fn read_more(&mut self) -> Result<bool, RunError> {
        if self.eof {
            return Ok(false);
        }
        // Move the partial record to the front, then make room.
        if self.start > 0 {
            self.buffer.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.scanned -= self.start;
            self.start = 0;
        }
        let want = self.end + self.chunk;
        if self.buffer.len() < want {
            self.buffer.resize(want, 0);
        } else if self.buffer.len() > 2 * want.max(READ_CHUNK) {
            // A long record passed: give its memory back.
            self.buffer.truncate(want);
            self.buffer.shrink_to_fit();
        }
        loop {
            match self.reader.read(&mut self.buffer[self.end..want]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(read) => {
                    self.end += read;
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(RunError::Read(e)),
            }
        }
    }

    fn check_length(&self, length: usize) -> Result<(), RunError> {
        if length as u64 > self.max_record {
            return Err(RunError::RecordTooLong {
                index: self.next_index,
                limit: self.max_record,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Gives out at most `step` bytes per read.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// Every record, or the index and limit of the first too long one.
    fn frame(
        data: &[u8],
        delimiter: u8,
        max: u64,
        step: usize,
        chunk: usize,
    ) -> (Vec<Vec<u8>>, Option<(u64, u64)>) {
        let mut framer = Framer::with_chunk(Trickle { data, step }, delimiter, max, chunk);
        let mut records = Vec::new();
        loop {
            match framer.next_buffered() {
                Ok(Some(record)) => records.push(record.to_vec()),
                Ok(None) => match framer.read_more() {
                    Ok(_) => {}
                    Err(e) => panic!("read error {e}"),
                },
                Err(RunError::RecordTooLong { index, limit }) => {
                    return (records, Some((index, limit)));
                }
                Err(e) => panic!("unexpected {e}"),
            }
            if framer.at_end() {
                break;
            }
        }
        (records, None)
    }

    /// The model: split on the delimiter, no extra record after a final
    /// delimiter, stop at the first record longer than `max`.
    fn model(data: &[u8], delimiter: u8, max: u64) -> (Vec<Vec<u8>>, Option<(u64, u64)>) {
        let mut records: Vec<Vec<u8>> = data
            .split(|b| *b == delimiter)
            .map(<[u8]>::to_vec)
            .collect();
        if data.is_empty() || data.last() == Some(&delimiter) {
            records.pop();
        }
        let mut out = Vec::new();
        for (i, record) in records.into_iter().enumerate() {
            if record.len() as u64 > max {
                return (out, Some((i as u64, max)));
            }
            out.push(record);
        }
        (out, None)
    }

    #[test]
    fn the_spec_examples() {
        let run = |data: &[u8]| frame(data, b'\n', 100, 7, 4).0;
        assert_eq!(run(b"a\nb"), vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(run(b"a\nb\n"), vec![b"a".to_vec(), b"b".to_vec()]);
        assert!(run(b"").is_empty());
        assert_eq!(run(b"\n"), vec![Vec::<u8>::new()]);
        assert_eq!(run(b"a\r\n\n"), vec![b"a\r".to_vec(), Vec::new()]);
    }

    #[test]
    fn the_longest_record_is_enforced_exactly() {
        for max in [0u64, 1, 5, 6, 7] {
            let data = b"123456\n12\n";
            assert_eq!(
                frame(data, b'\n', max, 3, 2),
                model(data, b'\n', max),
                "max {max}"
            );
        }
        // Far above the read size, and the last record without delimiter.
        let mut data = vec![b'x'; 300_000];
        data.push(b'\n');
        data.extend(vec![b'y'; 300_001]);
        assert_eq!(
            frame(&data, b'\n', 300_000, 65536, READ_CHUNK).1,
            Some((1, 300_000))
        );
        assert_eq!(frame(&data, b'\n', 300_001, 65536, READ_CHUNK).1, None);
        // The largest limit does not overflow anything.
        assert_eq!(frame(&data, b'\n', u64::MAX, 65536, READ_CHUNK).0.len(), 2);
    }

    proptest! {
        #[test]
        fn framing_matches_the_model(
            data in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'\0'), Just(b'\r'), Just(b'a'), Just(b'b')], 0..200),
            nul in any::<bool>(),
            max in 0u64..12,
            step in 1usize..9,
            chunk in 1usize..9,
        ) {
            let delimiter = if nul { 0 } else { b'\n' };
            prop_assert_eq!(frame(&data, delimiter, max, step, chunk), model(&data, delimiter, max));
        }
    }
}
