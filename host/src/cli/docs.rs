//! `sandmap completions` and `sandmap man`: generated from the same clap
//! definitions as the command line itself, so they never disagree.

use std::io::Write;

use clap::CommandFactory;

use super::args::{Cli, CompletionsArgs};
use super::exit::Exit;

/// Prints the completion script for a shell.
///
/// # Errors
/// When standard output cannot be written.
pub fn completions(args: CompletionsArgs) -> anyhow::Result<Exit> {
    let mut command = Cli::command();
    // Into memory first: clap_complete panics on a write error, and a
    // closed pipe (`| head`) is no bug.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "sandmap", &mut script);
    std::io::stdout().lock().write_all(&script)?;
    Ok(Exit::Success)
}

/// Prints the manual page (roff), with a section for each subcommand.
///
/// # Errors
/// When standard output cannot be written.
pub fn man() -> anyhow::Result<Exit> {
    let command = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_mangen::Man::new(command.clone()).render(&mut out)?;
    // Each subcommand's own options, under a heading of its own.
    for sub in command.get_subcommands() {
        writeln!(out, ".SH \"SANDMAP {}\"", sub.get_name().to_uppercase())?;
        let page = clap_mangen::Man::new(sub.clone());
        page.render_synopsis_section(&mut out)?;
        page.render_description_section(&mut out)?;
        page.render_options_section(&mut out)?;
        page.render_extra_section(&mut out)?;
    }
    Ok(Exit::Success)
}
