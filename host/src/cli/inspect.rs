//! `sandmap inspect`: what a plugin is and what the sandbox gives it.

use std::io::Write;

use sandmap::{Engine, EngineOptions, PluginKind, sandbox_note};
use serde::Serialize;

use super::args::{InspectArgs, InspectFormat};
use super::exit::Exit;
use super::run::{Unusable, load_plugin};

#[derive(Serialize)]
struct Report<'a> {
    path: String,
    size: usize,
    kind: &'static str,
    form: &'static str,
    world: &'static str,
    imports: Vec<Import<'a>>,
    exports: &'a [String],
}

#[derive(Serialize)]
struct Import<'a> {
    name: &'a str,
    sandbox: &'static str,
}

/// Runs `sandmap inspect`.
///
/// # Errors
/// [`Unusable`] when the plugin cannot be loaded; an I/O error when the
/// report cannot be written.
pub fn inspect(args: InspectArgs) -> anyhow::Result<Exit> {
    let engine = Engine::new(&EngineOptions::default()).map_err(|e| Unusable(e.to_string()))?;
    let plugin = load_plugin(&engine, &args.plugin, &args.load)?;
    let (kind, form, world) = match plugin.kind() {
        PluginKind::Mapper => ("mapper", "component", "sandmap:plugin/plugin"),
        PluginKind::CommandComponent => ("command", "component", "wasi:cli/command"),
        PluginKind::CommandModule => ("command", "core module", "wasi preview 1 command"),
    };
    let command = plugin.kind().is_command();
    let report = Report {
        path: plugin.path().display().to_string(),
        size: plugin.size(),
        kind,
        form,
        world,
        imports: plugin
            .imports()
            .iter()
            .map(|name| Import {
                name,
                sandbox: sandbox_note(name, command),
            })
            .collect(),
        exports: plugin.exports(),
    };
    let mut out = std::io::stdout().lock();
    match args.format {
        InspectFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        InspectFormat::Text => write_text(&mut out, &report)?,
    }
    Ok(Exit::Success)
}

fn write_text(out: &mut impl Write, report: &Report<'_>) -> std::io::Result<()> {
    writeln!(out, "plugin   {} ({} bytes)", report.path, report.size)?;
    writeln!(out, "kind     {} ({})", report.kind, report.form)?;
    writeln!(out, "world    {}", report.world)?;
    writeln!(out, "imports  {}", report.imports.len())?;
    let width = report
        .imports
        .iter()
        .map(|i| i.name.len())
        .max()
        .unwrap_or(0);
    for import in &report.imports {
        writeln!(out, "  {:<width$}  {}", import.name, import.sandbox)?;
    }
    writeln!(out, "exports  {}", report.exports.len())?;
    for export in report.exports {
        writeln!(out, "  {export}")?;
    }
    Ok(())
}
