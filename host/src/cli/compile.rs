//! `sandmap compile`: ahead-of-time compilation to a `.cwasm` file.

use anyhow::Context;
use sandmap::{Engine, EngineOptions, PoolingOptions};

use super::args::CompileArgs;
use super::exit::Exit;
use super::run::Unusable;

/// Runs `sandmap compile`.
///
/// # Errors
/// [`Unusable`] when the plugin is not valid; an I/O error when the output
/// cannot be written.
pub fn compile(args: CompileArgs) -> anyhow::Result<Exit> {
    // The same engine settings `run` uses, so that the result loads there.
    let options = EngineOptions {
        fuel: args.fuel,
        pooling: Some(PoolingOptions {
            concurrent_instances: 1,
            max_memory: None,
        }),
    };
    let engine = Engine::new(&options).map_err(|e| Unusable(e.to_string()))?;
    let bytes = std::fs::read(&args.plugin)
        .map_err(|e| Unusable(format!("cannot read plugin {}: {e}", args.plugin.display())))?;
    let code =
        sandmap::precompile(&engine, &args.plugin, &bytes).map_err(|e| Unusable(e.to_string()))?;
    std::fs::write(&args.output, code)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    Ok(Exit::Success)
}
