//! `sandmap run`: turn the arguments into a run, stream the results out.

use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::path::Path;

use anyhow::{Context, bail};
use sandmap::{
    CompileCache, DirGrant, Engine, Grants, Limits, LoadOptions, Order, Plugin, Pool, RunConfig,
    TryNext,
};

use super::args::{LoadArgs, RunArgs};
use super::exit::Exit;
use super::output::Sink;
use super::report::Report;
use super::signals::{SignalWatch, name};

/// A failure before any record ran: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unusable(pub String);

/// Runs `sandmap run`.
///
/// # Errors
/// [`Unusable`] (in the chain) for bad arguments, plugins and inputs; an
/// I/O error for output that cannot be written.
pub fn run(args: RunArgs) -> anyhow::Result<Exit> {
    let config = run_config(&args).map_err(|e| Unusable(e.to_string()))?;
    let input = open_input(args.input.as_deref()).map_err(|e| Unusable(format!("{e:#}")))?;
    let engine = Engine::new(&config.engine_options()).map_err(|e| Unusable(e.to_string()))?;
    let plugin = load_plugin(&engine, &args.plugin, &args.load)?;
    let pool = Pool::new(plugin, config).map_err(|e| Unusable(e.to_string()))?;
    // Only now, with everything loaded, may the output file be created.
    let terminal = args.output.is_none() && std::io::stdout().is_terminal();
    let output = open_output(args.output.as_deref()).map_err(|e| Unusable(format!("{e:#}")))?;

    let delimiter = if args.null { 0 } else { b'\n' };
    let mut sink = Sink::new(output, args.format, delimiter, terminal);
    let mut report = Report::new(args.quiet);
    let mut results = pool.map_reader(input, delimiter);
    let cancel = results.cancel_token();
    let signals = SignalWatch::start(cancel.clone()).context("cannot install signal handlers")?;

    let mut failed_fast = false;
    loop {
        let result = match results.try_next() {
            TryNext::Ready(result) => result,
            TryNext::Done => break,
            TryNext::Pending => {
                // Nothing ready: show what we have before waiting.
                sink.flush()?;
                match results.next() {
                    Some(result) => result,
                    None => break,
                }
            }
        };
        match &result.outcome {
            Ok(output) => {
                report.ok();
                sink.ok(result.index, output)?;
            }
            Err(error) => {
                report.failed(error.kind);
                sink.error(result.index, error)?;
                if args.fail_fast {
                    failed_fast = true;
                    cancel.cancel();
                    break;
                }
            }
        }
    }
    sink.flush()?;
    let input_error = results.input_error();
    drop(results);

    report.finish(signals.received().map(name));
    signals.finish();
    if let Some(error) = input_error {
        bail!(Unusable(format!("error reading input: {error}")));
    }
    Ok(if failed_fast || report.failed_total() > 0 {
        Exit::RecordsFailed
    } else {
        Exit::Success
    })
}

/// Loads the plugin at `path` as `load` says.
///
/// # Errors
/// [`Unusable`], with the one line that says why.
pub fn load_plugin(engine: &Engine, path: &Path, load: &LoadArgs) -> Result<Plugin, Unusable> {
    let cache = match (&load.cache_dir, load.no_cache) {
        (_, true) => None,
        (Some(dir), false) => Some(CompileCache::new(dir)),
        (None, false) => CompileCache::default_dir().map(CompileCache::new),
    };
    let options = LoadOptions {
        allow_precompiled: load.allow_precompiled,
        cache,
    };
    Plugin::load(engine, path, options).map_err(|e| Unusable(e.to_string()))
}

/// The library's view of the arguments.
fn run_config(args: &RunArgs) -> anyhow::Result<RunConfig> {
    let mut env = Vec::new();
    for spec in &args.env {
        env.push(match spec.split_once('=') {
            Some((key, value)) if !key.is_empty() => (key.to_string(), value.to_string()),
            Some(_) => bail!("--env {spec}: expected KEY=VALUE"),
            None => {
                let value = std::env::var(spec)
                    .with_context(|| format!("--env {spec}: not set in sandmap's environment"))?;
                (spec.clone(), value)
            }
        });
    }
    Ok(RunConfig {
        jobs: args.jobs.map_or(0, |j| j as usize),
        limits: Limits {
            fuel: args.fuel,
            timeout: args.timeout,
            max_memory: args.max_memory,
            max_output: args.max_output,
        },
        grants: Grants {
            env,
            dirs: args.dirs.iter().map(|d| DirGrant::parse(d)).collect(),
            args: args.args.clone(),
        },
        isolate: args.isolate,
        max_record: args
            .max_record
            .map(|m| usize::try_from(m).unwrap_or(usize::MAX)),
        order: if args.unordered {
            Order::Completion
        } else {
            Order::Input
        },
    })
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
        None => {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                Ok(Box::new(stdout))
            } else {
                Ok(Box::new(stdout.lock()))
            }
        }
        Some(path) => {
            let file = File::create(path)
                .with_context(|| format!("cannot create output {}", path.display()))?;
            Ok(Box::new(file))
        }
    }
}
