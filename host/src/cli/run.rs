//! `sandmap run`: turn the arguments into a pool, stream the results out.

use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::path::Path;

use anyhow::{Context, bail};
use sandmap::{DirGrant, Order, Pool, PoolBuilder, TryNext};

use super::args::{LoadArgs, RunArgs};
use super::exit::Exit;
use super::output::Sink;
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
    let pool = with_load_args(builder(&args)?, &args.load).build()?;
    let input = open_input(args.input.as_deref())?;
    // Only now, with everything loaded, may the output file be created.
    let terminal = output_path.is_none() && std::io::stdout().is_terminal();
    let output = open_output(output_path)?;

    let delimiter = pool.config().delimiter;
    let mut sink = Sink::new(output, args.format, delimiter, terminal);
    let mut report = Report::new(args.quiet, args.format);
    let mut results = pool.map_reader(input);
    let cancel = results.cancel_token();
    signals.watch(cancel.clone());

    let mut failed_fast = false;
    let mut run_error = None;
    loop {
        let next = match results.try_next() {
            TryNext::Ready(next) => next,
            TryNext::Done => break,
            _ => {
                // Nothing ready: show what we have before waiting.
                sink.flush().map_err(output_error)?;
                match results.next() {
                    Some(next) => next,
                    None => break,
                }
            }
        };
        let result = match next {
            Ok(result) => result,
            Err(error) => {
                run_error = Some(error);
                break;
            }
        };
        match &result.outcome {
            Ok(output) => {
                report.ok();
                sink.ok(&result, output).map_err(output_error)?;
            }
            Err(error) => {
                sink.error(&result, error, &mut report)
                    .map_err(output_error)?;
                if args.fail_fast && error.kind != sandmap::ErrorKind::Interrupted {
                    // Nothing after the first failure is written.
                    failed_fast = true;
                    cancel.cancel();
                    break;
                }
            }
        }
    }
    sink.flush().map_err(output_error)?;
    drop(results);

    report.finish(signals.received());
    signals.finish();
    if let Some(error) = run_error {
        return Err(anyhow::Error::new(error));
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

/// Applies the plugin-loading arguments (compile cache, precompiled code).
pub fn with_load_args(builder: PoolBuilder, load: &LoadArgs) -> PoolBuilder {
    let cache = match (&load.cache_dir, load.no_cache) {
        (_, true) => None,
        // An explicit directory is the user's choice: relative to here.
        (Some(dir), false) => std::path::absolute(dir)
            .ok()
            .and_then(|dir| sandmap::CompileCache::new(dir).ok()),
        (None, false) => sandmap::CompileCache::user_default(),
    };
    let builder = builder.allow_precompiled(load.allow_precompiled);
    match cache {
        Some(cache) => builder.cache(cache),
        None => builder,
    }
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
        if let Some(other) = other {
            if same_file(output, other) {
                bail!(
                    "output {} is the {what} file: writing it would destroy what is being read",
                    output.display()
                );
            }
        }
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

fn open_input(path: Option<&Path>) -> anyhow::Result<Box<dyn Read + Send>> {
    match path {
        None => Ok(Box::new(std::io::stdin())),
        Some(p) if p.as_os_str() == "-" => Ok(Box::new(std::io::stdin())),
        Some(path) => {
            if path.is_dir() {
                bail!("cannot read input {}: it is a directory", path.display());
            }
            let file = File::open(path)
                .with_context(|| format!("cannot open input {}", path.display()))?;
            Ok(Box::new(file))
        }
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

/// An error writing the output, told apart from a failed record.
fn output_error(error: std::io::Error) -> anyhow::Error {
    anyhow::Error::new(error).context("cannot write the output")
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
