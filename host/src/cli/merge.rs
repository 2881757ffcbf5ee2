//! `sandmap merge`: the jsonl files of one job's runs (its shards, a run
//! and a retry of its failures) become one jsonl stream in index order.
//!
//! A k-way merge: each file is read one line at a time and its waiting
//! line sits in a heap ordered by index, so memory holds one line per file
//! whatever the files' sizes. Lines are copied byte for byte, never
//! re-serialized: what comes out is what `run` wrote.

mod input;
mod sink;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sandmap::ErrorKind;

use super::exit::Exit;
use input::{Source, Status};
use sink::{MergeFormat, Sink};

/// The `--help` text after the options: what merge accepts, refuses, and
/// cannot see.
const AFTER_HELP: &str = "\
Inputs are files written by `sandmap run --format jsonl` without --unordered, \
each in increasing index order: the shards of one job (`--shard K/N`), or a \
run followed by a run of its failed records (`run --only-failed`). An index \
in several files: the last file named wins.

Refused (exit 2, naming the file and line): a line that is not such a JSON \
object (a raw output file, a log, a line cut short), an unknown status or \
error kind, indices that do not increase within a file (an --unordered run, \
files joined in the wrong order, a repeated index), and a missing index: a \
first index that is not 0, or a gap below the largest index seen (a shard \
left out, shards of another split or of a shorter input), unless \
--allow-gaps.

Not detected: which job a line came from. Files of two different jobs \
(another plugin, options or input) whose indices overlap merge as if the \
later one were a retry, and records missing at the end of the input go \
unnoticed. Merge only the files of one job.

Exit status: 0 all records ok, 1 some record failed, 2 invalid input.";

/// `sandmap merge`.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct MergeArgs {
    /// jsonl files of `sandmap run --format jsonl`, each in index order
    /// (`-`: standard input). The last file named wins an index.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,

    /// Write to FILE instead of standard output (`-`: standard output).
    /// FILE may not be one of the inputs.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Output format: jsonl (the lines, byte for byte) or raw (what `run`
    /// prints: each output and a delimiter, failures on stderr).
    #[arg(long, value_enum, default_value_t = MergeFormat::Jsonl)]
    pub format: MergeFormat,

    /// With --format raw: end outputs with NUL bytes instead of newlines.
    #[arg(short = '0', long)]
    pub null: bool,

    /// Accept missing indices: merge what the files hold.
    #[arg(long)]
    pub allow_gaps: bool,

    /// The longest line read; a longer one is an error.
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = parse_size)]
    pub max_line: u64,

    /// No summary on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

fn parse_size(text: &str) -> Result<u64, String> {
    parse_size::parse_size(text).map_err(|e| format!("{e} (try 64MiB, 1GiB)"))
}

/// Runs `sandmap merge`.
///
/// # Errors
/// An input that cannot be read or is not valid (see [`AFTER_HELP`]), an
/// output that cannot be written: all exit 2 (a closed pipe exits quietly).
pub fn merge(args: MergeArgs) -> anyhow::Result<Exit> {
    if args.null && args.format == MergeFormat::Jsonl {
        bail!("-0/--null only applies to --format raw");
    }
    if args.files.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        bail!("standard input (`-`) may be named only once");
    }
    let output_path = args.output.as_deref().filter(|p| p.as_os_str() != "-");
    check_output_path(output_path, &args.files)?;
    let mut sources = args
        .files
        .iter()
        .map(|path| Source::open(path, args.max_line))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Only now, with every input open, may the output file be created.
    let terminal = output_path.is_none() && std::io::stdout().is_terminal();
    let delimiter = if args.null { 0 } else { b'\n' };
    let mut sink = Sink::new(open_output(output_path)?, args.format, delimiter, terminal);
    let result = merge_sources(&mut sources, &mut sink, args.allow_gaps);
    // What was merged before an invalid line stays written, whole lines.
    let flushed = sink.flush();
    let tally = result?;
    flushed?;
    if !args.quiet && (tally.troubled() || std::io::stderr().is_terminal()) {
        eprintln!("{}", tally.summary(sources.len()));
    }
    Ok(if tally.failed_total() > 0 {
        Exit::RecordsFailed
    } else {
        Exit::Success
    })
}

/// Refuses an output file that is one of the inputs (writing it would
/// destroy what is being read), or a directory.
fn check_output_path(output: Option<&Path>, inputs: &[PathBuf]) -> anyhow::Result<()> {
    let Some(output) = output else { return Ok(()) };
    if let Some(input) = inputs.iter().find(|input| same_file(output, input)) {
        bail!(
            "output {} is the input {}: writing it would destroy what is being read",
            output.display(),
            input.display()
        );
    }
    if output.is_dir() {
        bail!("output {} is a directory", output.display());
    }
    Ok(())
}

/// Whether two paths name the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

fn open_output(path: Option<&Path>) -> anyhow::Result<Box<dyn Write>> {
    match path {
        None => Ok(Box::new(std::io::stdout().lock())),
        Some(path) => {
            let file = File::create(path)
                .with_context(|| format!("cannot create output {}", path.display()))?;
            Ok(Box::new(file))
        }
    }
}

/// The k-way merge: takes the lowest index waiting in any file, writes the
/// line of the last file that holds it, and reads on in every file that
/// held it.
fn merge_sources(
    sources: &mut [Source],
    sink: &mut Sink,
    allow_gaps: bool,
) -> anyhow::Result<Tally> {
    let mut heap = BinaryHeap::with_capacity(sources.len());
    for (position, source) in sources.iter_mut().enumerate() {
        if let Some(index) = source.advance()? {
            heap.push(Reverse((index, position)));
        }
    }
    let mut tally = Tally::default();
    let mut next_index = 0u64;
    let mut holders = Vec::with_capacity(sources.len());
    while let Some(Reverse((index, first))) = heap.pop() {
        holders.clear();
        holders.push(first);
        while let Some(&Reverse((next, position))) = heap.peek()
            && next == index
        {
            heap.pop();
            holders.push(position);
        }
        let winner = &sources[holders.iter().copied().max().unwrap_or(first)];
        if index > next_index {
            if !allow_gaps {
                let gap = gap_message(winner, next_index);
                return Err(explain_gap(sources).unwrap_or_else(|| anyhow::anyhow!(gap)));
            }
            tally.missing += index - next_index;
        }
        next_index = index.saturating_add(1);
        tally.replaced += holders.len() as u64 - 1;
        tally.count(winner.status);
        sink.write(winner)?;
        for &position in &holders {
            if let Some(index) = sources[position].advance()? {
                heap.push(Reverse((index, position)));
            }
        }
    }
    Ok(tally)
}

/// Lines read ahead in each file to explain a gap.
const GAP_PROBE_LINES: u32 = 10_000;

/// A gap is often a file out of order, its missing index further down
/// (an `--unordered` run): reads a little ahead in every file, and
/// returns the first invalid line found, the real cause.
fn explain_gap(sources: &mut [Source]) -> Option<anyhow::Error> {
    sources.iter_mut().find_map(|source| {
        (0..GAP_PROBE_LINES)
            .map(|_| source.advance())
            .find(|next| !matches!(next, Ok(Some(_))))
            .and_then(Result::err)
    })
}

/// Says which indices no file holds, before the line of `source`.
fn gap_message(source: &Source, expected: u64) -> String {
    let index = source.index.unwrap_or(expected);
    let missing = if index - expected == 1 {
        format!("index {expected} is")
    } else {
        format!("indices {expected} to {} are", index - 1)
    };
    format!(
        "{} line {}: index {index} comes next, but {missing} in none of the files \
         (a shard or file left out?); --allow-gaps merges anyway",
        source.name, source.number
    )
}

/// Counts of what was merged.
#[derive(Debug, Default)]
struct Tally {
    ok: u64,
    failed: BTreeMap<ErrorKind, u64>,
    /// Lines dropped because a later file held the same index.
    replaced: u64,
    /// Indices no file held (with --allow-gaps).
    missing: u64,
}

impl Tally {
    fn count(&mut self, status: Status) {
        match status {
            Status::Ok => self.ok += 1,
            Status::Error(kind) => *self.failed.entry(kind).or_default() += 1,
        }
    }

    fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }

    /// Whether the summary is worth a line even when stderr is no terminal.
    fn troubled(&self) -> bool {
        self.failed_total() > 0 || self.missing > 0
    }

    fn summary(&self, files: usize) -> String {
        let mut line = format!(
            "sandmap: merged {files} file{}: {} ok, {} failed",
            if files == 1 { "" } else { "s" },
            self.ok,
            self.failed_total()
        );
        if !self.failed.is_empty() {
            let kinds: Vec<String> = self
                .failed
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            line.push_str(&format!(" ({})", kinds.join(", ")));
        }
        if self.replaced > 0 {
            line.push_str(&format!("; {} replaced by a later file", self.replaced));
        }
        if self.missing > 0 {
            line.push_str(&format!("; {} missing", self.missing));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn source(text: &'static str) -> Source {
        Source::new("in.jsonl".into(), Box::new(text.as_bytes()), 1 << 20)
    }

    /// Merges `files` with `format`; what it wrote, or the error.
    fn merged(
        files: &[&'static str],
        format: MergeFormat,
        terminal: bool,
    ) -> Result<String, String> {
        let out = Shared::default();
        let mut sink = Sink::new(Box::new(out.clone()), format, b'\n', terminal);
        let mut sources: Vec<Source> = files.iter().map(|f| source(f)).collect();
        let result = merge_sources(&mut sources, &mut sink, false);
        sink.flush().unwrap();
        result.map_err(|e| e.to_string())?;
        let bytes = out.0.lock().unwrap().clone();
        Ok(String::from_utf8(bytes).unwrap())
    }

    #[test]
    fn lines_come_out_byte_for_byte_and_the_last_file_wins() {
        let run = "{\"index\":0,\"status\":\"ok\",\"output\":\"A\"}\n\
                   {\"index\":1, \"status\":\"error\",\"kind\":\"guest\",\"message\":\"x\"}\n";
        let retry = "{\"index\":1,\"status\":\"ok\",\"output\":\"B\",\"wall_us\":3}";
        let text = merged(&[run, retry], MergeFormat::Jsonl, false).unwrap();
        assert_eq!(
            text,
            "{\"index\":0,\"status\":\"ok\",\"output\":\"A\"}\n\
             {\"index\":1,\"status\":\"ok\",\"output\":\"B\",\"wall_us\":3}\n"
        );
        let text = merged(&[retry, run], MergeFormat::Jsonl, false).unwrap();
        assert!(text.ends_with("\"message\":\"x\"}\n"), "{text}");
    }

    #[test]
    fn raw_decodes_and_escapes_for_a_terminal() {
        let lines = "{\"index\":0,\"status\":\"ok\",\"output\":\"a\\u001b[2J\\n\"}\n\
                     {\"index\":1,\"status\":\"ok\",\"output_base64\":\"//4A\"}\n";
        let text = merged(&[lines], MergeFormat::Raw, true).unwrap();
        assert_eq!(text, "a\\u{1b}[2J\n\u{fffd}\u{fffd}\\u{0}\n");
        let json = merged(&[lines], MergeFormat::Jsonl, true).unwrap();
        assert_eq!(json, lines, "JSON escapes are already safe");
        let bidi = "{\"index\":0,\"status\":\"ok\",\"output\":\"\u{202e}\"}\n";
        let json = merged(&[bidi], MergeFormat::Jsonl, true).unwrap();
        assert_eq!(
            json,
            "{\"index\":0,\"status\":\"ok\",\"output\":\"\\u202e\"}\n"
        );
    }

    #[test]
    fn invalid_lines_are_named_by_file_and_line() {
        let cases: [(&str, &str); 10] = [
            ("HELLO\n", "line 1: not a JSON object"),
            ("{\"index\":0,\"status\":\"ok\"", "line 1: cut short"),
            (
                "{\"index\":0,\"status\":\"ok\"}\n",
                "line 1: an \"ok\" line without",
            ),
            (
                "{\"index\":-1,\"status\":\"ok\",\"output\":\"\"}\n",
                "line 1: not valid JSON",
            ),
            (
                "{\"status\":\"ok\",\"output\":\"\"}\n",
                "line 1: no \"index\"",
            ),
            (
                "{\"index\":0,\"status\":\"fine\",\"output\":\"\"}\n",
                "unknown status",
            ),
            (
                "{\"index\":0,\"status\":\"error\",\"kind\":\"slow\",\"message\":\"\"}\n",
                "unknown error kind",
            ),
            (
                "{\"index\":0,\"status\":\"ok\",\"output\":\"\"}\n{\"index\":0,\"status\":\"ok\",\"output\":\"\"}\n",
                "line 2: index 0 again",
            ),
            (
                "{\"index\":1,\"status\":\"ok\",\"output\":\"\"}\n{\"index\":0,\"status\":\"ok\",\"output\":\"\"}\n",
                "line 2: index 0 after 1",
            ),
            (
                "{\"index\":0,\"status\":\"ok\",\"output\":\"\"}\n{\"index\":3,\"status\":\"ok\",\"output\":\"\"}\n",
                "line 2: index 3 comes next, but indices 1 to 2 are",
            ),
        ];
        for (file, want) in cases {
            let error = merged(&[file], MergeFormat::Jsonl, false).unwrap_err();
            assert!(error.starts_with("in.jsonl line "), "{error}");
            assert!(error.contains(want), "{file:?}: {error}");
        }
    }
}
