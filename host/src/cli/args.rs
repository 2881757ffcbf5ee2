//! The command line, as clap structs. `///` comments here are the
//! `--help` text. Nothing outside `cli/` sees these types: `run.rs` turns
//! them into calls on the library's [`sandmap::PoolBuilder`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// Map untrusted functions over data, in parallel, in a WebAssembly sandbox.
#[derive(Debug, Parser)]
#[command(name = "sandmap", version, about, long_about = None, after_help = MAIN_EXAMPLES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Examples shown by `sandmap --help`.
const MAIN_EXAMPLES: &str = "\
Examples:
  sandmap run upper.wasm in.txt -o out.txt        map a file to a file
  seq 1 100 | sandmap run my-command.wasm -- -x   a WASI command, with argv
  sandmap inspect plugin.wasm                      what it is, what it may touch
  sandmap completions bash > ~/.local/share/bash-completion/completions/sandmap
  sandmap man | man -l -                           the manual page

`sandmap run --help` has more.";

/// Examples and exit codes shown by `sandmap run --help`.
const RUN_EXAMPLES: &str = "\
Examples:
  File to file:
    sandmap run upper.wasm in.txt -o out.txt
  A pipeline, results as JSON lines, with limits:
    zcat logs.gz | sandmap run parse.wasm --format jsonl --timeout 2s \\
        --fuel 100000000 --max-memory 64MiB > parsed.jsonl
  A WASI command with arguments, NUL-separated records:
    find . -print0 | sandmap run hash.wasm -0 -- --algorithm sha256
  Grants: read /data, write thumbnails to ./thumbs, one variable:
    sandmap run thumb.wasm list.txt --dir /data --dir-rw thumbs::/out --env SIZE=128
  A long run that survives Ctrl-C, then retrying what timed out:
    sandmap run f.wasm in.txt -o out.jsonl --format jsonl --journal out.journal
    sandmap run f.wasm in.txt -o out.jsonl --format jsonl --journal out.journal --resume
    sandmap run f.wasm in.txt --format jsonl --only-failed out.jsonl:timeout \\
        --timeout 1m > retried.jsonl
    sandmap merge out.jsonl retried.jsonl > all.jsonl

Exit status: 0 all records ok, 1 some record failed, 2 usage error, an
unloadable plugin or input, or output that cannot be written, 130/143
stopped by SIGINT/SIGTERM.";

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a plugin over every record of INPUT and write the results.
    Run(Box<RunArgs>),
    /// Show what a plugin is: its kind, what it imports and exports, and
    /// what the sandbox will give it.
    Inspect(InspectArgs),
    /// Compile a plugin ahead of time to a .cwasm file (load it with
    /// `run --allow-precompiled`).
    Compile(CompileArgs),
    /// Merge jsonl files of `run` (shards, retries) into one stream in
    /// index order.
    Merge(super::merge::MergeArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell).
    Completions(CompletionsArgs),
    /// Print the manual page (roff): `sandmap man | man -l -`.
    Man,
}

/// `sandmap completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// How a plugin is loaded.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// Accept precompiled .cwasm plugins. Only for code you trust: loading
    /// precompiled code skips validation.
    #[arg(long)]
    pub allow_precompiled: bool,

    /// Where compiled plugins are cached [default: $SANDMAP_CACHE_DIR,
    /// $XDG_CACHE_HOME/sandmap or ~/.cache/sandmap]. Entries are
    /// authenticated with a key of yours, so planted files are never loaded.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Compile the plugin without reading or writing the cache.
    #[arg(long, conflicts_with = "cache_dir")]
    pub no_cache: bool,
}

/// `sandmap inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The plugin: a .wasm component or core module, or .wat text.
    pub plugin: PathBuf,

    /// Output format.
    #[arg(long, value_enum, default_value_t = InspectFormat::Text)]
    pub format: InspectFormat,

    #[command(flatten)]
    pub load: LoadArgs,
}

/// How `inspect` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InspectFormat {
    /// For people.
    Text,
    /// One JSON object.
    Json,
}

/// `sandmap compile`.
#[derive(Debug, clap::Args)]
pub struct CompileArgs {
    /// The plugin: a .wasm component or core module, or .wat text.
    pub plugin: PathBuf,

    /// Where to write the compiled code.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,

    /// Compile with fuel metering, for runs that will use --fuel (code
    /// compiled without it cannot enforce a fuel budget, and the reverse).
    #[arg(long)]
    pub fuel: bool,

    /// Compile for --deterministic runs (canonical NaNs).
    #[arg(long)]
    pub deterministic: bool,
}

/// How results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Each output followed by the delimiter; failures go to stderr.
    Raw,
    /// One JSON object per input record.
    Jsonl,
}

/// `sandmap run`.
#[derive(Debug, clap::Args)]
#[command(after_help = RUN_EXAMPLES)]
pub struct RunArgs {
    /// The plugin: a .wasm component or core module, or .wat text.
    pub plugin: PathBuf,

    /// Input file; standard input when absent or `-`.
    pub input: Option<PathBuf>,

    /// Arguments passed to a command plugin (after its name), the same for
    /// every record.
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<String>,

    /// Write results to FILE instead of standard output (`-`: standard
    /// output). FILE may not be the input or the plugin.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Worker threads [default: available cores].
    #[arg(short, long, value_name = "N", value_parser = parse_jobs)]
    pub jobs: Option<usize>,

    /// Records are separated by NUL bytes instead of newlines.
    #[arg(short = '0', long)]
    pub null: bool,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Raw)]
    pub format: Format,

    /// Fuel budget per record (about one unit per wasm instruction).
    #[arg(long, value_name = "N")]
    pub fuel: Option<u64>,

    /// Wall-clock limit per record, e.g. 250ms, 2s, 1m. Also ends a guest
    /// blocked in a host call.
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    /// Cap on an instance's memories and tables, all added up, e.g.
    /// 64MiB [default: 1GiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_memory: Option<u64>,

    /// Cap on each record's output, checked before it is copied out of the
    /// plugin, e.g. 1MiB [default: 64MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_output: Option<u64>,

    /// The longest record read from INPUT; a longer one stops the run
    /// (exit 2) after the results before it [default: 64MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_record: Option<u64>,

    /// Every record starts from a fresh instance's state (no state shared
    /// between records): a new instance, or the worker's, put back.
    #[arg(long)]
    pub isolate: bool,

    /// Environment variable visible to the plugin: KEY=VALUE, or KEY to
    /// pass the host's value (repeatable). Nothing else of the host's
    /// environment is visible.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,

    /// Host directory the plugin may read, at GUESTDIR (default: the same
    /// path) (repeatable).
    #[arg(long = "dir", value_name = "HOSTDIR[::GUESTDIR]")]
    pub dirs: Vec<String>,

    /// Host directory the plugin may read AND write (create, change,
    /// rename and remove files and directories; not make symlinks), at
    /// GUESTDIR (repeatable). Records running in parallel share it with no
    /// locking, as any parallel program would; --isolate and
    /// --deterministic give each record a fresh instance's state, not a
    /// fresh directory.
    #[arg(long = "dir-rw", value_name = "HOSTDIR[::GUESTDIR]")]
    pub dirs_rw: Vec<String>,

    /// Stop at the first failed record.
    #[arg(long)]
    pub fail_fast: bool,

    /// Write results as they finish, not in input order.
    #[arg(long)]
    pub unordered: bool,

    /// Run only shard K of N: the records whose index i has i % N = K
    /// (indices stay global). For batch engines that start N copies.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<(u64, u64)>,

    /// Results that depend only on the plugin, the options and the record:
    /// a fresh instance per record, fixed clocks that advance a fixed step
    /// per reading, random bytes seeded by (--seed, record index),
    /// canonical NaNs. Identical across -j, shards, machines and re-runs.
    #[arg(long)]
    pub deterministic: bool,

    /// The seed of --deterministic.
    #[arg(
        long,
        value_name = "S",
        default_value_t = 0,
        requires = "deterministic"
    )]
    pub seed: u64,

    /// Run records that fail with one of KINDS again, on a fresh instance,
    /// up to N more times (default 1): e.g. timeout,trap:3. jsonl tells
    /// "attempts" when a record took more than one.
    #[arg(long, value_name = "KINDS[:N]", value_parser = parse_retry)]
    pub retry: Option<sandmap::Retry>,

    /// Keep a journal in FILE (needs -o): which records are done and
    /// where the output ends, so that a run stopped in any way (Ctrl-C, a
    /// kill, a crash, a full disk) can go on with --resume.
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,

    /// Go on from the journal: done records are skipped (their input is
    /// read again and checked), a torn end of the output is cut, and the
    /// output ends up as one uninterrupted run would have written it. With
    /// no journal yet, starts afresh. Refused if the plugin, an option that
    /// changes results, or the input differs.
    #[arg(long, requires = "journal")]
    pub resume: bool,

    /// Run only the records that failed in an earlier jsonl output of a
    /// run over the same input (with one of KINDS, default any); their
    /// lines keep their indices. E.g. --only-failed run.jsonl:timeout
    #[arg(long, value_name = "PREV.jsonl[:KINDS]", value_parser = parse_only_failed)]
    pub only_failed: Option<OnlyFailed>,

    /// Measure each record: jsonl lines add wall_us, fuel (with --fuel)
    /// and memory; the summary adds p50/p99/max wall time and the slowest
    /// record.
    #[arg(long)]
    pub stats: bool,

    #[command(flatten)]
    pub load: LoadArgs,

    /// No progress bar and no summary.
    #[arg(short, long)]
    pub quiet: bool,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration =
        humantime::parse_duration(text).map_err(|e| format!("{e} (try 250ms, 2s, 1m)"))?;
    if duration.is_zero() {
        return Err("must be more than zero".into());
    }
    if duration > sandmap::MAX_TIMEOUT {
        return Err(format!(
            "must be at most {}",
            humantime::format_duration(sandmap::MAX_TIMEOUT)
        ));
    }
    Ok(duration)
}

fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let (k, n) = text
        .split_once('/')
        .ok_or_else(|| "expected K/N, e.g. 0/4".to_string())?;
    let k: u64 = k
        .trim()
        .parse()
        .map_err(|_| format!("{k:?} is not a shard number"))?;
    let n: u64 = n
        .trim()
        .parse()
        .map_err(|_| format!("{n:?} is not a shard count"))?;
    if n == 0 || k >= n {
        return Err(format!(
            "shard {k} of {n} does not exist: K must be from 0 to N-1"
        ));
    }
    Ok((k, n))
}

fn parse_retry(text: &str) -> Result<sandmap::Retry, String> {
    let (kinds, times) = match text.rsplit_once(':') {
        Some((kinds, times)) => (
            kinds,
            times
                .parse::<u32>()
                .map_err(|_| format!("{times:?} is not a number of retries"))?,
        ),
        None => (text, 1),
    };
    let kinds = kinds
        .split(',')
        .map(|kind| {
            kind.trim()
                .parse::<sandmap::ErrorKind>()
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    if kinds.contains(&sandmap::ErrorKind::Interrupted) {
        return Err("interrupted records are never retried".into());
    }
    Ok(sandmap::Retry::new(kinds, times))
}

/// `--only-failed PREV.jsonl[:KINDS]`.
#[derive(Debug, Clone)]
pub struct OnlyFailed {
    /// The earlier output.
    pub path: PathBuf,
    /// The kinds to run again; empty: any.
    pub kinds: Vec<sandmap::ErrorKind>,
}

fn parse_only_failed(text: &str) -> Result<OnlyFailed, String> {
    if let Some((path, kinds)) = text.rsplit_once(':') {
        let parsed: Result<Vec<_>, _> = kinds.split(',').map(|k| k.trim().parse()).collect();
        if let Ok(kinds) = parsed {
            return Ok(OnlyFailed {
                path: PathBuf::from(path),
                kinds,
            });
        }
    }
    Ok(OnlyFailed {
        path: PathBuf::from(text),
        kinds: Vec::new(),
    })
}

fn parse_jobs(text: &str) -> Result<usize, String> {
    let jobs: usize = text
        .parse()
        .map_err(|_| format!("not a number of workers (1 to {})", sandmap::MAX_JOBS))?;
    if jobs == 0 || jobs > sandmap::MAX_JOBS {
        return Err(format!("must be from 1 to {}", sandmap::MAX_JOBS));
    }
    Ok(jobs)
}

fn parse_size(text: &str) -> Result<u64, String> {
    parse_size::parse_size(text).map_err(|e| format!("{e} (try 64MiB, 512KiB, 1000000)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes_parse_as_documented() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("300000000000y").is_err());
        assert!(parse_jobs("0").is_err());
        assert_eq!(parse_shard("1/3"), Ok((1, 3)));
        assert!(
            parse_shard("3/3").is_err() && parse_shard("0/0").is_err() && parse_shard("x").is_err()
        );
        let retry = parse_retry("timeout,trap:3").unwrap();
        assert_eq!(retry.times, 3);
        assert!(retry.covers(sandmap::ErrorKind::Trap) && !retry.covers(sandmap::ErrorKind::Guest));
        assert_eq!(parse_retry("fuel").unwrap().times, 1);
        assert!(parse_retry("slow").is_err() && parse_retry("interrupted").is_err());
        assert_eq!(parse_jobs("3"), Ok(3));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn arguments_after_double_dash_go_to_the_command() {
        let cli =
            Cli::try_parse_from(["sandmap", "run", "p.wasm", "in.txt", "--", "-x", "y"]).unwrap();
        let Command::Run(args) = cli.command else {
            panic!("parsed as another command");
        };
        assert_eq!(args.input, Some(PathBuf::from("in.txt")));
        assert_eq!(args.args, ["-x", "y"]);
    }
}
