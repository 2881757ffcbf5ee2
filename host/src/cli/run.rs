//! `sandmap run`: turn the arguments into a pool, stream the results out.

use std::fs::File;
use std::io::{IsTerminal, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use anyhow::{Context, bail};
use sandmap::{DirGrant, Flow, JobError, Order, Pool, PoolBuilder};

use super::args::{Format, RunArgs};
use super::exit::Exit;
use super::load::with_load_args;
use super::progress::{Counted, InputSize};
use super::report::Report;
use super::signals::SignalWatch;

/// Runs `sandmap run`.
///
/// # Errors
/// Bad arguments, a plugin or input that cannot be loaded or read, output
/// that cannot be written: all exit 2 (a closed pipe exits quietly).
pub fn run(args: RunArgs) -> anyhow::Result<Exit> {
    // First, so that Ctrl-C during a long compile ends the process cleanly.
    let signals = SignalWatch::start().context("cannot install signal handlers")?;
    let output_path = args.output.as_deref().filter(|p| p.as_os_str() != "-");
    check_output_path(output_path, args.input.as_deref(), &args.plugin)?;
    if let Some(journal) = &args.journal {
        let Some(output) = output_path else {
            bail!("--journal needs -o FILE: the journal records where that file ends");
        };
        check_journal_path(journal, output, args.input.as_deref(), &args.plugin)?;
    }
    let only = args
        .only_failed
        .as_ref()
        .map(|spec| spec.read())
        .transpose()?;
    let pool = with_load_args(builder(&args)?, &args.load)?.build()?;
    let (input, size) = open_input(args.input.as_deref())?;
    // Only now, with everything loaded, may the output file be created.
    let terminal = output_path.is_none() && std::io::stdout().is_terminal();
    let format = match args.format {
        Format::Raw => sandmap::Format::Raw,
        Format::Jsonl => sandmap::Format::Jsonl,
    };
    let mut job = pool.job().format(format).for_terminal(terminal);
    job = match output_path {
        Some(path) => job.output_file(path),
        None => job.output(std::io::stdout()),
    };
    if let Some(journal) = &args.journal {
        job = job.journal(journal).resume(args.resume);
    }
    if let Some(only) = only {
        job = job.only(only);
    }
    let running = job.start(input)?;
    signals.watch(running.cancel_token());
    let mut report = Report::new(args.quiet, args.format, args.stats, size);
    report.resumed(running.resumed());
    report.writable(&pool.config().grants.dirs);
    let mut failed_fast = false;
    let finished = running.run(|result| {
        report.record(result);
        match result.outcome {
            Err(error) if args.fail_fast && error.kind != sandmap::ErrorKind::Interrupted => {
                // Nothing after the first failure is written.
                failed_fast = true;
                Flow::Stop
            }
            _ => Flow::Continue,
        }
    });
    report.finish(signals.received());
    signals.finish();
    match finished {
        Ok(_) => {}
        Err(JobError::Write(error)) if error.kind() == std::io::ErrorKind::BrokenPipe => {
            // The reader has what it wanted (`| head -1`).
            return Ok(Exit::Success);
        }
        Err(error) => return Err(error.into()),
    }
    Ok(if failed_fast || report.failed_total() > 0 {
        Exit::RecordsFailed
    } else {
        Exit::Success
    })
}

/// The library's view of the arguments.
fn builder(args: &RunArgs) -> anyhow::Result<PoolBuilder> {
    let mut builder = Pool::builder(&args.plugin)
        .args(args.args.iter().cloned())
        .isolate(args.isolate)
        .delimiter(if args.null { 0 } else { b'\n' })
        .order(if args.unordered {
            Order::Completion
        } else {
            Order::Input
        });
    if let Some(jobs) = args.jobs {
        builder = builder.jobs(jobs);
    }
    if let Some(fuel) = args.fuel {
        builder = builder.fuel(fuel);
    }
    if let Some(timeout) = args.timeout {
        builder = builder.timeout(timeout);
    }
    if let Some(bytes) = args.max_memory {
        builder = builder.max_memory(bytes);
    }
    if let Some(bytes) = args.max_output {
        builder = builder.max_output(bytes);
    }
    if let Some(bytes) = args.max_record {
        builder = builder.max_record(bytes);
    }
    if let Some((index, count)) = args.shard {
        builder = builder.shard(sandmap::Shard::new(index, count));
    }
    if args.deterministic {
        builder = builder.deterministic(args.seed);
    }
    if let Some(retry) = &args.retry {
        builder = builder.retry(retry.clone());
    }
    builder = builder.stats(args.stats);
    for spec in &args.env {
        let (key, value) = match spec.split_once('=') {
            Some((key, value)) if !key.is_empty() => (key.to_string(), value.to_string()),
            Some(_) => bail!("--env {spec}: expected KEY=VALUE"),
            None => {
                let value = std::env::var_os(spec)
                    .with_context(|| format!("--env {spec}: not set in sandmap's environment"))?;
                let value = value
                    .into_string()
                    .map_err(|_| anyhow::anyhow!("--env {spec}: its value is not UTF-8"))?;
                (spec.clone(), value)
            }
        };
        builder = builder.env(key, value);
    }
    for spec in &args.dirs {
        builder = builder.dir(spec.parse::<DirGrant>()?);
    }
    for spec in &args.dirs_rw {
        let grant = spec.parse::<DirGrant>()?;
        builder = builder.dir(DirGrant::writable(grant.host, grant.guest));
    }
    Ok(builder)
}

/// Refuses an output file that is the input or the plugin (writing it
/// would destroy what is being read), as `cat` does.
fn check_output_path(
    output: Option<&Path>,
    input: Option<&Path>,
    plugin: &Path,
) -> anyhow::Result<()> {
    let Some(output) = output else { return Ok(()) };
    let input = input.filter(|p| p.as_os_str() != "-");
    for (what, other) in [("input", input), ("plugin", Some(plugin))] {
        if let Some(other) = other
            && same_file(output, other)
        {
            bail!(
                "output {} is the {what} file: writing it would destroy what is being read",
                output.display()
            );
        }
    }
    if output.is_dir() {
        bail!("output {} is a directory", output.display());
    }
    Ok(())
}

/// Refuses a journal that is the output, the input or the plugin.
fn check_journal_path(
    journal: &Path,
    output: &Path,
    input: Option<&Path>,
    plugin: &Path,
) -> anyhow::Result<()> {
    let input = input.filter(|p| p.as_os_str() != "-");
    for (what, other) in [
        ("output", Some(output)),
        ("input", input),
        ("plugin", Some(plugin)),
    ] {
        if other.is_some_and(|other| same_file(journal, other) || journal == other) {
            bail!("journal {} is the {what} file", journal.display());
        }
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

/// The input, and what the progress display can know of its size: a
/// regular file is read through a byte counter.
fn open_input(path: Option<&Path>) -> anyhow::Result<(Box<dyn Read + Send>, InputSize)> {
    let path = match path {
        Some(path) if path.as_os_str() != "-" => path,
        _ => return Ok((Box::new(std::io::stdin()), InputSize::Unknown)),
    };
    if path.is_dir() {
        bail!("cannot read input {}: it is a directory", path.display());
    }
    let file = File::open(path).with_context(|| format!("cannot open input {}", path.display()))?;
    let meta = file
        .metadata()
        .with_context(|| format!("cannot read input {}", path.display()))?;
    if !meta.is_file() {
        return Ok((Box::new(file), InputSize::Unknown));
    }
    let read = Arc::new(AtomicU64::new(0));
    let size = InputSize::File {
        total: meta.len(),
        read: read.clone(),
    };
    Ok((Box::new(Counted::new(file, read)), size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn output_may_not_be_the_input_or_the_plugin() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.txt");
        std::fs::write(&input, b"x\n").unwrap();
        let plugin = PathBuf::from("/dev/null");
        let via_dot = dir.path().join(".").join("in.txt");
        assert!(check_output_path(Some(&via_dot), Some(&input), &plugin).is_err());
        assert!(check_output_path(Some(&plugin), Some(&input), &plugin).is_err());
        assert!(check_output_path(Some(&dir.path().join("out")), Some(&input), &plugin).is_ok());
        assert!(check_output_path(Some(dir.path()), None, &plugin).is_err());
    }
}
