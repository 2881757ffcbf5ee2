//! The `sandmap` binary: parse, run, exit.

mod cli;

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(cli::main().code())
}
