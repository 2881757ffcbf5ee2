//! `sandmap inspect`: what a plugin is and what the sandbox gives it.

use std::io::Write;

use sandmap::{PluginKind, Pool};
use serde::Serialize;

use super::args::{InspectArgs, InspectFormat};
use super::escape::{for_terminal, json_for_terminal};
use super::exit::Exit;
use super::load::with_load_args;

#[derive(Serialize)]
struct Report<'a> {
    path: String,
    size: usize,
    kind: &'static str,
    form: &'static str,
    world: &'static str,
    instances: &'static str,
    imports: Vec<Import<'a>>,
    exports: &'a [String],
}

#[derive(Serialize)]
struct Import<'a> {
    name: &'a str,
    sandbox: &'static str,
}

/// Runs `sandmap inspect`: loads the plugin exactly as `run` would with
/// its default settings (the same engine, the same checks), and tells what
/// it is.
///
/// # Errors
/// When the plugin cannot be loaded; an I/O error when the report cannot
/// be written.
pub fn inspect(args: InspectArgs) -> anyhow::Result<Exit> {
    let pool = with_load_args(Pool::builder(&args.plugin).jobs(1), &args.load)?.build()?;
    let plugin = pool.plugin();
    let (kind, form, world) = match plugin.kind {
        PluginKind::Mapper => ("mapper", "component", "sandmap:plugin/plugin"),
        PluginKind::CommandComponent => ("command", "component", "wasi:cli/command"),
        _ => ("command", "core module", "wasi preview 1 command"),
    };
    let command = plugin.kind.is_command();
    let instances = match (command, plugin.reuses_instances) {
        (false, _) if plugin.isolates_in_place => {
            "one per worker, reused across records (with --isolate, put back to its fresh \
             state after every record)"
        }
        (false, _) => "one per worker, reused across records (fresh per record with --isolate)",
        (true, true) => {
            "one per worker, put back to its fresh state after every record \
             (fresh per record with --isolate)"
        }
        (true, false) => "a fresh one per record",
    };
    let report = Report {
        path: plugin.name.clone(),
        size: plugin.size,
        kind,
        form,
        world,
        instances,
        imports: plugin
            .imports
            .iter()
            .map(|name| Import {
                name,
                sandbox: sandbox_note(name, command),
            })
            .collect(),
        exports: &plugin.exports,
    };
    let mut out = std::io::stdout().lock();
    match args.format {
        InspectFormat::Json => {
            let text = serde_json::to_string_pretty(&report)?;
            writeln!(out, "{}", json_for_terminal(&text))?;
        }
        InspectFormat::Text => write_text(&mut out, &report)?,
    }
    Ok(Exit::Success)
}

/// What the sandbox gives a plugin for one of its imports (an interface
/// name such as `wasi:sockets/tcp@0.2.6`, or `module#name` of a core
/// module), with nothing granted.
fn sandbox_note(import: &str, command: bool) -> &'static str {
    let (module, name) = import.split_once('#').unwrap_or((import, ""));
    let interface = module.split('@').next().unwrap_or(module);
    if module == "wasi_snapshot_preview1" {
        return match name {
            n if n.starts_with("sock_") => "denied: no network",
            n if n.starts_with("path_") || n.starts_with("fd_prestat") => {
                "no directories unless --dir (read-only) or --dir-rw"
            }
            n if n.starts_with("environ_") => "empty unless --env",
            "fd_read" if command => "provided (stdin is the record)",
            _ => "provided",
        };
    }
    match interface {
        i if i.starts_with("wasi:sockets/") => "denied: no network",
        i if i.starts_with("wasi:filesystem/") => {
            "no directories unless --dir (read-only) or --dir-rw"
        }
        "wasi:cli/environment" => "empty unless --env (arguments after --)",
        "wasi:cli/stdin" if command => "provided: the record",
        "wasi:cli/stdin" => "closed",
        "wasi:cli/stdout" if command => "provided: the result",
        "wasi:cli/stdout" | "wasi:cli/stderr" => "captured, not shown",
        _ => "provided",
    }
}

/// The report for people. Every name comes from the plugin: escaped.
fn write_text(out: &mut impl Write, report: &Report<'_>) -> std::io::Result<()> {
    writeln!(
        out,
        "plugin   {} ({} bytes)",
        for_terminal(&report.path),
        report.size
    )?;
    writeln!(out, "kind     {} ({})", report.kind, report.form)?;
    writeln!(out, "world    {}", report.world)?;
    writeln!(out, "instance {}", report.instances)?;
    writeln!(out, "imports  {}", report.imports.len())?;
    let width = report
        .imports
        .iter()
        .map(|i| for_terminal(i.name).chars().count())
        .max()
        .unwrap_or(0);
    for import in &report.imports {
        writeln!(
            out,
            "  {:<width$}  {}",
            for_terminal(import.name),
            import.sandbox
        )?;
    }
    writeln!(out, "exports  {}", report.exports.len())?;
    for export in report.exports {
        writeln!(out, "  {}", for_terminal(export))?;
    }
    Ok(())
}
