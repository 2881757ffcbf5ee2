//! The command line, as clap structs. `///` comments here are the
//! `--help` text. Nothing outside `cli/` sees these types: `run.rs` turns
//! them into the library's plain [`sandmap::RunConfig`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// Map untrusted functions over data, in parallel, in a WebAssembly sandbox.
#[derive(Debug, Parser)]
#[command(name = "sandmap", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a plugin over every record of INPUT and write the results.
    Run(RunArgs),
    /// Show what a plugin is: its kind, what it imports and exports, and
    /// what the sandbox will give it.
    Inspect(InspectArgs),
    /// Compile a plugin ahead of time to a .cwasm file (load it with
    /// `run --allow-precompiled`).
    Compile(CompileArgs),
}

/// How a plugin is loaded.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// Accept precompiled .cwasm plugins. Only for code you trust: loading
    /// precompiled code skips validation.
    #[arg(long)]
    pub allow_precompiled: bool,

    /// Where compiled plugins are cached [default: $XDG_CACHE_HOME/sandmap
    /// or ~/.cache/sandmap; $SANDMAP_CACHE_DIR overrides].
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
#[command(after_help = "Exit status: 0 all records ok, 1 some record failed, \
2 usage error or unloadable plugin/input, 130/143 stopped by SIGINT/SIGTERM.")]
pub struct RunArgs {
    /// The plugin: a .wasm component or core module, or .wat text.
    pub plugin: PathBuf,

    /// Input file; standard input when absent or `-`.
    pub input: Option<PathBuf>,

    /// Arguments passed to a command plugin (after its name), the same for
    /// every record.
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<String>,

    /// Write results to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Worker threads [default: available cores].
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub jobs: Option<u32>,

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

    /// Cap on each instance's linear memory, e.g. 64MiB.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_memory: Option<u64>,

    /// Cap on each record's output, e.g. 1MiB.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_output: Option<u64>,

    /// The longest record read from INPUT; a longer one stops the run
    /// (exit 2) after the results before it [default: 1GiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_record: Option<u64>,

    /// A fresh instance for every record (no state shared between records).
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

    /// Stop at the first failed record.
    #[arg(long)]
    pub fail_fast: bool,

    /// Write results as they finish, not in input order.
    #[arg(long)]
    pub unordered: bool,

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
    Ok(duration)
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
