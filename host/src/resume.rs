//! Where a stopped job goes on from: what its journal belongs to, which
//! of its checkpoints the output really holds, and which records are done.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::{JobError, RunError};
use crate::journal::{self, Journal, Setting};
use crate::output::Format;
use crate::pool::Pool;
use crate::run::Select;

/// The settings a journal records: everything that changes a job's
/// output. (The number of workers and how results are shown do not.)
pub(crate) fn settings(pool: &Pool, format: Format, only: Option<&Only>) -> Vec<Setting> {
    let config = pool.config();
    let limits = &config.limits;
    let text = |value: &dyn std::fmt::Debug| format!("{value:?}");
    let or_none = |value: Option<String>| value.unwrap_or_else(|| "none".to_string());
    let named = |name: &str, value: String| (name.to_string(), value);
    let mut settings = vec![
        named("plugin", pool.plugin().hash.clone()),
        named("output format", format.as_str().to_string()),
        named("order of results", text(&config.order).to_lowercase()),
        named("record delimiter", format!("byte {}", config.delimiter)),
        named("fuel limit", or_none(limits.fuel.map(|f| f.to_string()))),
        named(
            "time limit",
            or_none(
                limits
                    .timeout
                    .map(|t| humantime::format_duration(t).to_string()),
            ),
        ),
        named("memory limit", format!("{} bytes", limits.max_memory)),
        named("output limit", format!("{} bytes", limits.max_output)),
        named("longest record", format!("{} bytes", limits.max_record)),
        named("isolation", text(&config.isolate)),
        named(
            "deterministic mode",
            or_none(config.deterministic.map(|seed| format!("seed {seed}"))),
        ),
        named("environment", text(&config.grants.env)),
        named("granted directories", text(&config.grants.dirs)),
        named("arguments", text(&config.args)),
        named("retries", text(&config.retry)),
        named("stats", text(&config.stats)),
        named(
            "shard",
            or_none(config.shard.map(|s| format!("{}/{}", s.index, s.count))),
        ),
    ];
    if let Some(only) = only {
        let mut hash = blake3::Hasher::new();
        for index in &only.indices {
            hash.update(&index.to_le_bytes());
        }
        settings.push((
            "records selected".to_string(),
            hash.finalize().to_hex().to_string(),
        ));
    }
    settings
}

/// Where a job goes on from.
#[derive(Debug, Default)]
pub(crate) struct Resume {
    /// The output's valid length, and its CRC-32C.
    pub out_len: u64,
    pub out_crc: u32,
    /// Where the journal's valid part ends (0: a new journal).
    journal_end: u64,
    /// Records done, by index, with their input's CRC-32C.
    done: Vec<(u64, u32)>,
}

impl Resume {
    /// A job from the start.
    pub fn fresh() -> Self {
        Resume::default()
    }

    /// What the journal at `journal` and the output at `output` say: the
    /// last checkpoint whose output bytes are really there. No journal:
    /// from the start.
    pub fn recover(journal: &Path, output: &Path, settings: &[Setting]) -> Result<Self, JobError> {
        let journal_error = |source| JobError::Journal {
            path: journal.to_path_buf(),
            source,
        };
        let Some(recovered) = journal::read(journal).map_err(journal_error)? else {
            return Ok(Resume::fresh());
        };
        check_settings(&recovered.settings, settings)?;
        let mut resume = Resume {
            journal_end: recovered.header_end,
            ..Resume::default()
        };
        let mut out = match File::open(output) {
            Ok(file) => Some(file),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(JobError::Output {
                    path: output.to_path_buf(),
                    source,
                });
            }
        };
        let mut done = Vec::new();
        let (mut read, mut crc) = (0u64, 0u32);
        let mut buffer = vec![0u8; 1 << 20];
        for checkpoint in recovered.checkpoints {
            // Read the output up to this checkpoint's length.
            let Some(file) = &mut out else { break };
            while read < checkpoint.out_len {
                let want = (checkpoint.out_len - read).min(buffer.len() as u64) as usize;
                let got = file
                    .read(&mut buffer[..want])
                    .map_err(|source| JobError::Output {
                        path: output.to_path_buf(),
                        source,
                    })?;
                if got == 0 {
                    break;
                }
                crc = crc32c::crc32c_append(crc, &buffer[..got]);
                read += got as u64;
            }
            if read != checkpoint.out_len || crc != checkpoint.out_crc {
                break;
            }
            done.extend(checkpoint.records);
            resume.out_len = checkpoint.out_len;
            resume.out_crc = checkpoint.out_crc;
            resume.journal_end = checkpoint.end;
        }
        done.sort_unstable();
        done.dedup_by_key(|(index, _)| *index);
        resume.done = done;
        Ok(resume)
    }

    /// Records done.
    pub fn done_count(&self) -> u64 {
        self.done.len() as u64
    }

    /// The records done, by index.
    pub fn into_done(self) -> Vec<(u64, u32)> {
        self.done
    }

    /// The output, cut to its valid length, open for appending.
    pub fn open_output(&self, output: &Path) -> Result<File, JobError> {
        append_after(output, self.out_len).map_err(|source| JobError::Output {
            path: output.to_path_buf(),
            source,
        })
    }

    /// The journal, cut after its last valid checkpoint (or new).
    pub fn open_journal(&self, path: &Path, settings: &[Setting]) -> Result<Journal, JobError> {
        let opened = match self.journal_end {
            0 => Journal::create(path, settings),
            end => Journal::reopen(path, end),
        };
        opened.map_err(|source| JobError::Journal {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Refuses a journal made for other settings, naming the first difference.
fn check_settings(journaled: &[Setting], now: &[Setting]) -> Result<(), JobError> {
    let value = |list: &[Setting], name: &str| {
        list.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| "(none)".to_string())
    };
    let names = journaled.iter().chain(now).map(|(n, _)| n.as_str());
    for name in names {
        let (then, here) = (value(journaled, name), value(now, name));
        if then != here {
            return Err(JobError::Mismatch {
                what: name.to_string(),
                journaled: then,
                now: here,
            });
        }
    }
    Ok(())
}

/// Skips the records a journal says are done, checking that each one's
/// input is the one the journal saw.
pub(crate) struct SkipDone {
    done: Vec<(u64, u32)>,
    next: usize,
}

impl SkipDone {
    /// Skips `done` (sorted by index).
    pub fn new(done: Vec<(u64, u32)>) -> Self {
        SkipDone { done, next: 0 }
    }
}

impl Select for SkipDone {
    fn select(&mut self, index: u64, record: &[u8]) -> Result<bool, RunError> {
        // Indices come in increasing order: walk the sorted list along.
        while self.done.get(self.next).is_some_and(|(i, _)| *i < index) {
            self.next += 1;
        }
        match self.done.get(self.next) {
            Some(&(i, crc)) if i == index => {
                if crate::batch::record_hash(record) != crc {
                    return Err(RunError::InputMismatch {
                        index,
                        what: "journal",
                    });
                }
                self.next += 1;
                Ok(false)
            }
            _ => Ok(true),
        }
    }

    fn finish(&mut self) -> Result<(), RunError> {
        match self.done.get(self.next) {
            Some(&(index, _)) => Err(RunError::InputMismatch {
                index,
                what: "journal (the input is shorter)",
            }),
            None => Ok(()),
        }
    }
}

/// Runs only the records with given indices.
pub(crate) struct Only {
    indices: Vec<u64>,
    next: usize,
}

impl Only {
    pub fn new(mut indices: Vec<u64>) -> Self {
        indices.sort_unstable();
        indices.dedup();
        Only { indices, next: 0 }
    }
}

impl Select for Only {
    fn select(&mut self, index: u64, _record: &[u8]) -> Result<bool, RunError> {
        while self.indices.get(self.next).is_some_and(|i| *i < index) {
            self.next += 1;
        }
        let selected = self.indices.get(self.next) == Some(&index);
        if selected {
            self.next += 1;
        }
        Ok(selected)
    }

    fn finish(&mut self) -> Result<(), RunError> {
        match self.indices.get(self.next) {
            Some(&index) => Err(RunError::InputMismatch {
                index,
                what: "list of records to run (the input is shorter)",
            }),
            None => Ok(()),
        }
    }
}

/// Opens `path` for appending after its first `len` bytes.
fn append_after(path: &Path, len: u64) -> std::io::Result<File> {
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    file.set_len(len)?;
    file.seek(SeekFrom::Start(len))?;
    Ok(file)
}
