//! The journal of a run: an append-only file saying which records are
//! done and where the output ended after them, from which a stopped run
//! is resumed with nothing lost and nothing done twice.
//!
//! Layout: a header (magic, version, then what the journal belongs to:
//! the plugin's hash and every setting that changes results), then
//! entries. Every piece is framed as `length (u32 LE) | CRC-32C (u32 LE) |
//! payload`, so a torn or damaged tail is recognised and cut: recovery
//! keeps the longest valid prefix and never trusts past it. An entry is a
//! checkpoint: the output's length and CRC-32C after it, and the records
//! (index, CRC-32C of the input record) finished since the one before. An
//! entry is written only after the output bytes it covers were written, so
//! after a crash the output is at least as long as the journal says, and
//! the CRC tells whether those bytes really are there.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// What starts every journal.
const MAGIC: &[u8; 8] = b"SMJRNL\0\x01";
/// The largest piece read back (a header or an entry).
const MAX_PIECE: u32 = 64 << 20;

/// One setting a journal records, by name, with its value as text.
pub(crate) type Setting = (String, String);

/// A checkpoint read back from a journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    /// Where the journal ends after this entry.
    pub end: u64,
    /// The output's length after the records of this entry.
    pub out_len: u64,
    /// CRC-32C of the output's first `out_len` bytes.
    pub out_crc: u32,
    /// Records finished since the previous checkpoint: (index, input CRC).
    pub records: Vec<(u64, u32)>,
}

/// What a journal file holds, as far as it is valid.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub settings: Vec<Setting>,
    /// Where the header ends (the journal of a run with nothing done).
    pub header_end: u64,
    pub checkpoints: Vec<Checkpoint>,
}

/// A journal open for appending.
pub(crate) struct Journal {
    file: File,
    path: PathBuf,
    /// Records finished since the last checkpoint.
    pending: Vec<(u64, u32)>,
    entry: Vec<u8>,
}

impl Journal {
    /// A new journal at `path` (replacing any), for a run with `settings`.
    pub fn create(path: &Path, settings: &[Setting]) -> std::io::Result<Self> {
        let mut file = File::create(path)?;
        let header = serde_json::to_vec(settings)?;
        file.write_all(MAGIC)?;
        file.write_all(&frame(&header))?;
        file.sync_all()?;
        Ok(Journal::new(file, path))
    }

    /// Reopens the journal at `path` to append after its first `valid`
    /// bytes (anything after them is cut).
    pub fn reopen(path: &Path, valid: u64) -> std::io::Result<Self> {
        let mut file = OpenOptions::new().read(true).write(true).open(path)?;
        file.set_len(valid)?;
        file.seek(SeekFrom::Start(valid))?;
        file.sync_all()?;
        Ok(Journal::new(file, path))
    }

    fn new(file: File, path: &Path) -> Self {
        Journal {
            file,
            path: path.to_path_buf(),
            pending: Vec::new(),
            entry: Vec::new(),
        }
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Notes that record `index`, whose input had CRC-32C `crc`, is done
    /// (written to the output, or told as a failure).
    pub fn done(&mut self, index: u64, crc: u32) {
        self.pending.push((index, crc));
    }

    /// Writes a checkpoint: the records noted since the last one are done,
    /// and the output is `out_len` bytes long with CRC-32C `out_crc`. The
    /// caller has written those output bytes already.
    pub fn checkpoint(&mut self, out_len: u64, out_crc: u32) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.entry.clear();
        self.entry.extend_from_slice(&out_len.to_le_bytes());
        self.entry.extend_from_slice(&out_crc.to_le_bytes());
        push_varint(&mut self.entry, self.pending.len() as u64);
        let mut previous = 0u64;
        for &(index, crc) in &self.pending {
            // Deltas, zigzag-coded: records finish in any order.
            let delta = index.wrapping_sub(previous) as i64;
            push_varint(&mut self.entry, ((delta << 1) ^ (delta >> 63)) as u64);
            self.entry.extend_from_slice(&crc.to_le_bytes());
            previous = index;
        }
        self.file.write_all(&frame(&self.entry))?;
        self.pending.clear();
        Ok(())
    }

    /// Makes everything written so far durable.
    pub fn sync(&mut self) -> std::io::Result<()> {
        self.file.sync_data()
    }
}

/// Reads the journal at `path` up to its last valid piece. `Ok(None)` when
/// there is no journal there.
///
/// # Errors
/// An I/O error, or [`std::io::ErrorKind::InvalidData`] when the file is
/// not a journal at all (no magic, or no valid header).
pub(crate) fn read(path: &Path) -> std::io::Result<Option<Recovered>> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut file) => file.read_to_end(&mut bytes)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let not_a_journal =
        || std::io::Error::new(std::io::ErrorKind::InvalidData, "not a sandmap journal");
    let rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(not_a_journal)?;
    let (header, mut at) = unframe(rest, 0).ok_or_else(not_a_journal)?;
    let settings: Vec<Setting> = serde_json::from_slice(header).map_err(|_| not_a_journal())?;
    let offset = MAGIC.len() as u64;
    let header_end = offset + at as u64;
    let mut checkpoints = Vec::new();
    while let Some((payload, next)) = unframe(rest, at) {
        let Some(mut checkpoint) = decode(payload) else {
            break;
        };
        checkpoint.end = offset + next as u64;
        checkpoints.push(checkpoint);
        at = next;
    }
    Ok(Some(Recovered {
        settings,
        header_end,
        checkpoints,
    }))
}

/// `length | crc | payload`.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// The payload of the piece at `at`, and where the next one starts; `None`
/// for a torn or damaged piece.
fn unframe(bytes: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let head = bytes.get(at..at.checked_add(8)?)?;
    let len = u32::from_le_bytes(head[..4].try_into().ok()?);
    let crc = u32::from_le_bytes(head[4..].try_into().ok()?);
    if len > MAX_PIECE {
        return None;
    }
    let end = at + 8 + len as usize;
    let payload = bytes.get(at + 8..end)?;
    (crc32c::crc32c(payload) == crc).then_some((payload, end))
}

fn decode(payload: &[u8]) -> Option<Checkpoint> {
    let out_len = u64::from_le_bytes(payload.get(..8)?.try_into().ok()?);
    let out_crc = u32::from_le_bytes(payload.get(8..12)?.try_into().ok()?);
    let mut at = 12;
    let count = read_varint(payload, &mut at)?;
    let mut records = Vec::with_capacity(count.min(1 << 20) as usize);
    let mut previous = 0u64;
    for _ in 0..count {
        let zigzag = read_varint(payload, &mut at)?;
        let delta = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
        let index = previous.wrapping_add(delta as u64);
        let crc = u32::from_le_bytes(payload.get(at..at + 4)?.try_into().ok()?);
        at += 4;
        records.push((index, crc));
        previous = index;
    }
    (at == payload.len()).then_some(Checkpoint {
        end: 0,
        out_len,
        out_crc,
        records,
    })
}

fn push_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn read_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Vec<Setting> {
        vec![
            ("plugin".into(), "abc".into()),
            ("format".into(), "jsonl".into()),
        ]
    }

    #[test]
    fn checkpoints_read_back_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let mut journal = Journal::create(&path, &settings()).unwrap();
        journal.done(0, 7);
        journal.done(2, 9);
        journal.done(1, 8);
        journal.checkpoint(100, 0xdead).unwrap();
        journal.checkpoint(100, 0xdead).unwrap(); // nothing new: no entry
        journal.done(u64::MAX - 1, 1);
        journal.checkpoint(250, 0xbeef).unwrap();
        drop(journal);
        let full = std::fs::read(&path).unwrap();
        let recovered = read(&path).unwrap().unwrap();
        assert_eq!(recovered.settings, settings());
        assert_eq!(recovered.checkpoints.len(), 2);
        assert_eq!(recovered.checkpoints[0].records, [(0, 7), (2, 9), (1, 8)]);
        assert_eq!(recovered.checkpoints[1].records, [(u64::MAX - 1, 1)]);
        assert_eq!(recovered.checkpoints[1].end, full.len() as u64);
        // Every cut inside the last entry loses that entry only; a flipped
        // byte in it likewise.
        for cut in recovered.checkpoints[0].end as usize..full.len() {
            std::fs::write(&path, &full[..cut]).unwrap();
            let torn = read(&path).unwrap().unwrap();
            assert_eq!(torn.checkpoints.len(), 1, "cut at {cut}");
        }
        let mut flipped = full.clone();
        *flipped.last_mut().unwrap() ^= 1;
        std::fs::write(&path, &flipped).unwrap();
        assert_eq!(read(&path).unwrap().unwrap().checkpoints.len(), 1);
        // Reopened at the valid end, it goes on from there.
        let mut journal = Journal::reopen(&path, recovered.checkpoints[0].end).unwrap();
        journal.done(3, 3);
        journal.checkpoint(300, 1).unwrap();
        let again = read(&path).unwrap().unwrap();
        assert_eq!(again.checkpoints.len(), 2);
        assert_eq!(again.checkpoints[1].out_len, 300);
    }

    #[test]
    fn what_is_not_a_journal_is_told_apart_from_no_journal() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(&dir.path().join("none")).unwrap().is_none());
        let junk = dir.path().join("junk");
        std::fs::write(&junk, b"{\"index\":0}\n").unwrap();
        assert_eq!(
            read(&junk).unwrap_err().kind(),
            std::io::ErrorKind::InvalidData
        );
    }
}
