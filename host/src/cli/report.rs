//! What the user sees on stderr besides per-record errors: a progress bar
//! while the run goes (on a terminal), and a summary at the end.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::Instant;

use sandmap::{ErrorKind, RecordError, RecordView};

use super::args::Format;
use super::escape::for_terminal;
use super::progress::{InputSize, Progress};
use super::stats::WallTimes;

/// Counts of a run, and its progress bar.
pub struct Report {
    started: Instant,
    ok: u64,
    failed: BTreeMap<ErrorKind, u64>,
    bar: Option<Progress>,
    /// Whether the summary is printed even when nothing went wrong.
    always_summarize: bool,
    quiet: bool,
    /// Raw output: failures are told on stderr, one line each.
    raw: bool,
    /// Wall times, with `--stats`.
    walls: Option<WallTimes>,
    /// Records a journal said were done.
    resumed: u64,
    /// Directories the plugin may write: always named in the summary.
    writable: Vec<String>,
}

impl Report {
    /// A report; the progress bar and the summary of a clean run appear
    /// only when stderr is a terminal.
    pub fn new(quiet: bool, format: Format, stats: bool, input: InputSize) -> Self {
        let terminal = std::io::stderr().is_terminal();
        Report {
            started: Instant::now(),
            ok: 0,
            failed: BTreeMap::new(),
            bar: (terminal && !quiet).then(|| Progress::new(input)),
            always_summarize: terminal,
            quiet,
            raw: format == Format::Raw,
            walls: stats.then(WallTimes::default),
            resumed: 0,
            writable: Vec::new(),
        }
    }

    /// Names the directories the plugin may write, `HOST (as GUEST)`: the
    /// summary always tells them.
    pub fn writable(&mut self, grants: &[sandmap::DirGrant]) {
        self.writable = grants
            .iter()
            .filter(|grant| grant.writable)
            .map(|grant| format!("{} (as {})", grant.host.display(), grant.guest))
            .collect();
    }

    /// Notes that a journal said `records` were done already.
    pub fn resumed(&mut self, records: u64) {
        self.resumed = records;
        if records > 0 && !self.quiet {
            self.println(&format!(
                "sandmap: resuming: {records} records already done"
            ));
        }
    }

    /// Counts a result (and tells a failure, in raw mode).
    pub fn record(&mut self, result: &RecordView<'_>) {
        if let (Some(walls), Some(stats)) = (&mut self.walls, &result.stats) {
            walls.add(result.index, stats.wall);
        }
        match result.outcome {
            Ok(_) => self.ok(),
            Err(error) => self.failed(result.index, error),
        }
    }

    /// Counts a successful record.
    fn ok(&mut self) {
        self.ok += 1;
        self.tick();
    }

    /// Counts a failed record, and in raw mode tells it on stderr (every
    /// failure but records a stop left unfinished: those are counted in the
    /// summary, not listed one by one).
    fn failed(&mut self, index: u64, error: &RecordError) {
        if self.raw && error.kind != ErrorKind::Interrupted {
            let line = format!("sandmap: record {index}: {}", for_terminal(&error.message));
            self.println(&line);
        }
        let kind = error.kind;
        *self.failed.entry(kind).or_default() += 1;
        self.tick();
    }

    /// One whole line on stderr, without tearing the progress bar.
    fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }),
            None => {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
        }
    }

    fn tick(&mut self) {
        let failed = self.failed_total();
        if let Some(bar) = &mut self.bar {
            bar.update(self.ok + failed, failed);
        }
    }

    /// Records that failed, all kinds together.
    pub fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }

    /// Removes the progress bar and prints the summary line (always after
    /// a failure or a stop; after a clean run only on a terminal).
    pub fn finish(&mut self, stopped_by: Option<&str>) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
        if self.quiet {
            return;
        }
        let troubled = stopped_by.is_some() || self.failed_total() > 0;
        // Asked for with --stats: always told.
        let walls = self.walls.as_ref().and_then(WallTimes::summary);
        if troubled || self.always_summarize || walls.is_some() || !self.writable.is_empty() {
            let line = self.summary(stopped_by);
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }
        if let Some(walls) = walls {
            let _ = writeln!(std::io::stderr().lock(), "sandmap: {walls}");
        }
    }

    fn summary(&self, stopped_by: Option<&str>) -> String {
        let elapsed = self.started.elapsed();
        let total = self.ok + self.failed_total();
        let rate = total as f64 / elapsed.as_secs_f64().max(1e-9);
        let mut line = String::from("sandmap: ");
        if let Some(signal) = stopped_by {
            line.push_str(&format!("stopped by {signal}: "));
        }
        line.push_str(&format!("{} ok, {} failed", self.ok, self.failed_total()));
        if !self.failed.is_empty() {
            let kinds: Vec<String> = self
                .failed
                .iter()
                .map(|(kind, n)| format!("{kind} {n}"))
                .collect();
            line.push_str(&format!(" ({})", kinds.join(", ")));
        }
        line.push_str(&format!(
            "; {total} records in {:.2}s ({rate:.0} records/s)",
            elapsed.as_secs_f64()
        ));
        if !self.writable.is_empty() {
            line.push_str(&format!(
                "; the plugin could write {}",
                for_terminal(&self.writable.join(", "))
            ));
        }
        line
    }
}
