//! The `sandmap` command line: a thin layer over the library.

mod args;
mod compile;
mod escape;
mod exit;
mod inspect;
mod output;
mod report;
mod run;
mod signals;

use std::io::Write;

use clap::Parser;

pub use exit::Exit;

/// Parses the command line, runs it, and says how to exit. Errors are
/// printed here, on one line each.
pub fn main() -> Exit {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                Exit::Usage
            } else {
                Exit::Success
            };
        }
    };
    let result = match cli.command {
        args::Command::Run(args) => run::run(args),
        args::Command::Inspect(args) => inspect::inspect(args),
        args::Command::Compile(args) => compile::compile(args),
    };
    match result {
        Ok(exit) => exit,
        Err(error) => report_error(&error),
    }
}

fn report_error(error: &anyhow::Error) -> Exit {
    // A closed pipe on our output means the reader has what it wanted.
    let broken_pipe = error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        return Exit::Success;
    }
    let message = escape::for_terminal(&format!("{error:#}"));
    let _ = writeln!(std::io::stderr().lock(), "sandmap: error: {message}");
    if error.chain().any(|c| c.is::<run::Unusable>()) {
        Exit::Usage
    } else {
        Exit::RecordsFailed
    }
}
