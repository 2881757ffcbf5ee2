//! `sandmap compile`: ahead-of-time compilation to a `.cwasm` file.

use anyhow::Context;
use sandmap::Pool;

use super::args::CompileArgs;
use super::exit::Exit;

/// Runs `sandmap compile`, with the engine settings `run` uses, so that
/// the result loads there (with the same `--fuel` and `--deterministic`).
///
/// # Errors
/// When the plugin is not valid; an I/O error when the output cannot be
/// written.
pub fn compile(args: CompileArgs) -> anyhow::Result<Exit> {
    let mut builder = Pool::builder(&args.plugin).jobs(1);
    if args.fuel {
        builder = builder.fuel(u64::MAX);
    }
    if args.deterministic {
        builder = builder.deterministic(0);
    }
    let code = builder.precompile()?;
    std::fs::write(&args.output, code)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    Ok(Exit::Success)
}
