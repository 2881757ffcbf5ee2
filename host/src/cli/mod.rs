//! The `sandmap` command line: a thin layer over the library.

mod args;
mod compile;
mod docs;
mod escape;
mod exit;
mod inspect;
mod load;
mod merge;
mod only_failed;
mod progress;
mod report;
mod run;
mod signals;
mod stats;

use std::io::Write;

use clap::Parser;

pub use exit::Exit;

/// Parses the command line, runs it, and says how to exit. Errors are
/// printed here, on one line each.
pub fn main() -> Exit {
    quiet_panics();
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
        args::Command::Run(args) => run::run(*args),
        args::Command::Inspect(args) => inspect::inspect(args),
        args::Command::Compile(args) => compile::compile(args),
        args::Command::Merge(args) => merge::merge(args),
        args::Command::Completions(args) => docs::completions(args),
        args::Command::Man => docs::man(),
    };
    match result {
        Ok(exit) => exit,
        Err(error) => report_error(&error),
    }
}

/// Tells an error that ended a command on one line, and exits 2: bad
/// arguments, a plugin or input that cannot be loaded or read, output that
/// cannot be written. A closed pipe on the output is no error: the reader
/// has what it wanted.
fn report_error(error: &anyhow::Error) -> Exit {
    let broken_pipe = error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        return Exit::Success;
    }
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !message.contains(&text) {
            if !message.is_empty() {
                message.push_str(": ");
            }
            message.push_str(&text);
        }
    }
    let message = escape::for_terminal(&message);
    let _ = writeln!(std::io::stderr().lock(), "sandmap: error: {message}");
    Exit::Usage
}

/// A panic is a bug in sandmap: one line that says so, not a backtrace.
fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let _ = writeln!(
            std::io::stderr().lock(),
            "sandmap: internal error (a bug, please report it): {}{place}",
            escape::for_terminal(&message)
        );
    }));
}
