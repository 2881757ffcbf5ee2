//! A job: one run whose results are written to an output, in a format,
//! optionally with a journal that makes any stop resumable (`resume.rs`
//! works out where a stopped job goes on from).

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cancel::CancelToken;
use crate::config::Order;
use crate::error::{ErrorKind, JobError, RunError};
use crate::journal::Journal;
use crate::outcome::RecordView;
use crate::output::{Format, ResultWriter};
use crate::pool::Pool;
use crate::results::{Results, Step, Wait};
use crate::resume::{Only, Resume, SkipDone, settings};
use crate::run::{Select, Selector};

/// Longest results are held back, while more keep coming, before they are
/// written out: slow records then cost one write for many, not one each,
/// and output still flows within this time.
const WRITE_HOLD: Duration = Duration::from_millis(10);

/// Whether a job goes on after a result (see [`RunningJob::run`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Flow {
    /// Go on.
    Continue,
    /// Stop the job: nothing after this result is written.
    Stop,
}

/// Where a job's results go.
enum Target {
    File(File),
    Stream(Box<dyn Write + Send>),
}

impl Write for Target {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Target::File(file) => file.write(buf),
            Target::Stream(out) => out.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Target::File(file) => file.flush(),
            Target::Stream(out) => out.flush(),
        }
    }
}

/// Configures a job; made by [`Pool::job`].
///
/// ```
/// # let upper = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/upper-wat/upper.wat");
/// use sandmap::{Flow, Format, Pool};
///
/// let scratch = tempfile::tempdir()?;
/// let (out, journal) = (scratch.path().join("out.jsonl"), scratch.path().join("journal"));
/// let pool = Pool::builder(upper).build()?;
/// let input = || std::io::Cursor::new(b"a\nb\nc\n".to_vec());
/// let job = pool.job().output_file(&out).format(Format::Raw).journal(&journal);
/// job.start(input())?.run(|_| Flow::Continue)?;
/// assert_eq!(std::fs::read(&out)?, b"A\nB\nC\n");
/// // Run again with resume: everything is done, nothing runs twice.
/// let job = pool.job().output_file(&out).format(Format::Raw).journal(&journal).resume(true);
/// let running = job.start(input())?;
/// assert_eq!(running.resumed(), 3);
/// running.run(|_| panic!("no record runs again"))?;
/// assert_eq!(std::fs::read(&out)?, b"A\nB\nC\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use]
pub struct JobBuilder {
    pool: Pool,
    output: Option<PathBuf>,
    stream: Option<Box<dyn Write + Send>>,
    format: Format,
    terminal: bool,
    journal: Option<PathBuf>,
    resume: bool,
    only: Option<Vec<u64>>,
}

impl Pool {
    /// Starts configuring a job: a run over an input whose results are
    /// written out (to standard output unless told otherwise).
    pub fn job(&self) -> JobBuilder {
        JobBuilder {
            pool: self.clone(),
            output: None,
            stream: None,
            format: Format::Raw,
            terminal: false,
            journal: None,
            resume: false,
            only: None,
        }
    }
}

impl JobBuilder {
    /// Writes results to the file at `path` (created, or truncated unless
    /// resuming).
    pub fn output_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.output = Some(path.into());
        self
    }

    /// Writes results to `out`.
    pub fn output(mut self, out: impl Write + Send + 'static) -> Self {
        self.stream = Some(Box::new(out));
        self
    }

    /// The output format (default raw).
    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// Escapes what guests wrote, for output bound for a terminal.
    pub fn for_terminal(mut self, terminal: bool) -> Self {
        self.terminal = terminal;
        self
    }

    /// Keeps a journal at `path` (needs an output file): with it, a job
    /// stopped in any way can be resumed.
    pub fn journal(mut self, path: impl Into<PathBuf>) -> Self {
        self.journal = Some(path.into());
        self
    }

    /// Goes on from the journal, if there is one (else starts afresh): done
    /// records are skipped (their input is read again and checked), a torn
    /// tail of the output is cut, and the output ends up as one
    /// uninterrupted job would have written it.
    pub fn resume(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }

    /// Runs only the records with these indices (keeping their indices).
    pub fn only(mut self, indices: impl IntoIterator<Item = u64>) -> Self {
        self.only = Some(indices.into_iter().collect());
        self
    }

    /// Opens the output and the journal (resuming as asked), and starts
    /// the run over `input`.
    ///
    /// # Errors
    /// [`JobError`]: a journal without an output file, a journal that is not
    /// one or belongs to another job, an output that cannot be opened.
    pub fn start(self, input: impl Read + Send + 'static) -> Result<RunningJob, JobError> {
        let config = self.pool.config();
        let only = self.only.clone().map(Only::new);
        let settings = settings(&self.pool, self.format, only.as_ref());
        let (target, journal, resume) = match (&self.journal, &self.output, self.stream) {
            (Some(_), None, _) => return Err(JobError::JournalNeedsFile),
            (Some(journal), Some(output), _) => {
                let resume = if self.resume {
                    Resume::recover(journal, output, &settings)?
                } else {
                    Resume::fresh()
                };
                let file = resume.open_output(output)?;
                let journal = resume.open_journal(journal, &settings)?;
                (Target::File(file), Some(journal), Some(resume))
            }
            (None, Some(output), _) => {
                let file = File::create(output).map_err(|source| JobError::Output {
                    path: output.clone(),
                    source,
                })?;
                (Target::File(file), None, None)
            }
            (None, None, Some(stream)) => (Target::Stream(stream), None, None),
            (None, None, None) => (Target::Stream(Box::new(std::io::stdout())), None, None),
        };
        let (written, crc, resumed) = resume
            .as_ref()
            .map_or((0, 0, 0), |r| (r.out_len, r.out_crc, r.done_count()));
        let mut selectors: Vec<Box<dyn Select>> = Vec::new();
        if let Some(resume) = resume {
            selectors.push(Box::new(SkipDone::new(resume.into_done())));
        }
        if let Some(only) = only {
            selectors.push(Box::new(only));
        }
        let selector: Option<Selector> = match selectors.len() {
            0 => None,
            _ => Some(Box::new(All(selectors))),
        };
        let results = self
            .pool
            .start_reader(Box::new(input), selector, journal.is_some());
        Ok(RunningJob {
            results,
            writer: ResultWriter::new(target, self.format, config.delimiter)
                .for_terminal(self.terminal)
                .continuing(written, crc),
            journal,
            ordered: config.order == Order::Input,
            raw: self.format == Format::Raw,
            resumed,
            held_since: None,
        })
    }
}

/// Selects what every one of its selectors selects.
struct All(Vec<Box<dyn Select>>);

impl Select for All {
    fn select(&mut self, index: u64, record: &[u8]) -> Result<bool, RunError> {
        for selector in &mut self.0 {
            if !selector.select(index, record)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn finish(&mut self) -> Result<(), RunError> {
        self.0.iter_mut().try_for_each(|s| s.finish())
    }
}

/// A job that has started: read its results with [`RunningJob::run`].
pub struct RunningJob {
    results: Results,
    writer: ResultWriter<Target>,
    journal: Option<Journal>,
    ordered: bool,
    raw: bool,
    resumed: u64,
    /// When the reader first found no result ready since it last wrote
    /// out what it holds.
    held_since: Option<Instant>,
}

/// What a finished job did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobSummary {
    /// Records a journal said were done, skipped.
    pub resumed: u64,
    /// Bytes of output the job wrote in all (earlier runs' included).
    pub written: u64,
}

impl RunningJob {
    /// A handle that stops the job from any thread.
    pub fn cancel_token(&self) -> CancelToken {
        self.results.cancel_token()
    }

    /// Records a journal said were done (skipped by this run).
    pub fn resumed(&self) -> u64 {
        self.resumed
    }

    /// Writes every result out, telling `observe` about each (it may stop
    /// the job), and finishes the output and journal cleanly whatever
    /// stops it. With a journal, results a stop left unfinished are not
    /// written (in input order, nothing after the first of them): a resume
    /// runs them.
    ///
    /// # Errors
    /// [`JobError::Output`]/[`JobError::Journal`] when writing fails, and
    /// [`JobError::Run`] when the run could not read all its input; the
    /// results before it are written.
    pub fn run(
        mut self,
        mut observe: impl FnMut(&RecordView<'_>) -> Flow,
    ) -> Result<JobSummary, JobError> {
        let mut held_back = false;
        let outcome = loop {
            let step = match self.results.step(Wait::No) {
                Step::Pending => self.wait_for_results()?,
                step => step,
            };
            match step {
                Step::Ready => {}
                Step::Failed(error) => break Err(JobError::Run(error)),
                _ => break Ok(()),
            }
            let Some(result) = self.results.current() else {
                break Ok(());
            };
            let unfinished = matches!(result.outcome, Err(e) if e.kind == ErrorKind::Interrupted);
            if self.journal.is_some() && (unfinished || held_back) {
                held_back |= self.ordered;
                continue;
            }
            write(&mut self.writer, &mut self.journal, &result)?;
            if self.raw && result.outcome.is_err() {
                // What came before goes out before the failure is told, so
                // that `> out 2>&1` keeps record order.
                flush(&mut self.writer, &mut self.journal)?;
            }
            if observe(&result) == Flow::Stop {
                self.results.cancel_token().cancel();
                break Ok(());
            }
        };
        self.finish()?;
        outcome.map(|()| JobSummary {
            resumed: self.resumed,
            written: self.writer.written(),
        })
    }

    /// Waits for the next step when none is ready: a moment (up to
    /// [`WRITE_HOLD`] after the first wait since the last write) for more
    /// results to write out together, then, with everything held written
    /// out, as long as it takes.
    fn wait_for_results(&mut self) -> Result<Step, JobError> {
        let now = Instant::now();
        let held_since = *self.held_since.get_or_insert(now);
        let hold = WRITE_HOLD.saturating_sub(now - held_since);
        if !hold.is_zero() {
            match self.results.step(Wait::For(hold)) {
                Step::Pending => {}
                step => return Ok(step),
            }
        }
        self.flush()?;
        self.held_since = None;
        Ok(self.results.step(Wait::Forever))
    }

    fn flush(&mut self) -> Result<(), JobError> {
        flush(&mut self.writer, &mut self.journal)
    }

    /// The last checkpoint, made durable: output first, then the journal.
    fn finish(&mut self) -> Result<(), JobError> {
        self.flush()?;
        if let Some(journal) = &mut self.journal {
            if let Target::File(file) = self.writer.get_ref() {
                file.sync_data().map_err(output_error)?;
            }
            journal
                .sync()
                .map_err(|source| journal_error(journal.path(), source))?;
        }
        Ok(())
    }
}

/// Writes one result, and notes it in the journal (with a checkpoint when
/// the writer wrote its buffer out).
fn write(
    writer: &mut ResultWriter<Target>,
    journal: &mut Option<Journal>,
    result: &RecordView<'_>,
) -> Result<(), JobError> {
    let before = writer.written();
    writer.write(*result).map_err(output_error)?;
    if let Some(journal) = journal {
        journal.done(result.index, result.input_hash);
        if writer.written() != before {
            journal
                .checkpoint(writer.written(), writer.crc())
                .map_err(|source| journal_error(journal.path(), source))?;
        }
    }
    Ok(())
}

/// Writes out what the writer holds, then a checkpoint.
fn flush(writer: &mut ResultWriter<Target>, journal: &mut Option<Journal>) -> Result<(), JobError> {
    writer.flush().map_err(output_error)?;
    if let Some(journal) = journal {
        journal
            .checkpoint(writer.written(), writer.crc())
            .map_err(|source| journal_error(journal.path(), source))?;
    }
    Ok(())
}

fn output_error(source: std::io::Error) -> JobError {
    JobError::Write(source)
}

fn journal_error(path: &Path, source: std::io::Error) -> JobError {
    JobError::Journal {
        path: path.to_path_buf(),
        source,
    }
}
