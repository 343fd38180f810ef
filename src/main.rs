//! The `kuulo` command: check and run phone surveys from the terminal.
//!
//! Each subcommand lives in its own module under `src/cli/`; see
//! [`cli::Command`] for the list.

mod cli;

fn main() -> std::process::ExitCode {
    cli::run()
}
