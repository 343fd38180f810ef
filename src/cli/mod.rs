//! Argument parsing and dispatch for the `kuulo` command.
//!
//! To add a subcommand: write `src/cli/NAME.rs` with an `Args` struct
//! (clap `Args` derive) and `pub fn run(args: Args) -> ExitCode`, then add a
//! variant to [`Command`] and a line to [`run`].

use std::error::Error;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod call;
mod campaign;
mod check;
mod demo;
mod dial;
mod privacy;
mod report;
mod residents;
mod runtime;
mod serve;
mod synth;

/// Exit codes shared by every subcommand, so scripts can tell a finding in
/// the user's input from a broken environment.
pub mod exit {
    /// The input has problems the user must fix (a script with errors).
    pub const FINDINGS: u8 = 1;
    /// Kuulo could not do its job: unreadable file, missing tool, I/O error.
    /// Clap uses the same code for bad command lines.
    pub const TROUBLE: u8 = 2;
}

/// Kuulo: automated phone surveys over SIP.
#[derive(Debug, Parser)]
#[command(name = "kuulo", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a survey script and list every problem with file:line:col.
    Check(check::Args),
    /// Synthesise every text prompt of a survey to 8 kHz WAV with espeak-ng.
    Synth(synth::Args),
    /// Answer calls and run a survey on each: an inbound survey number.
    Serve(serve::Args),
    /// Place one call and run a survey on it (to try a script on a phone).
    Call(call::Args),
    /// The whole job on loopback: call 1,000 simulated residents with the
    /// digital-services survey and print the report.
    Demo(demo::Args),
    /// The load benchmark: a campaign against simulated residents in
    /// another process, with full media, measured.
    Bench(bench::Args),
    /// Run a calling campaign: import contacts, dial, run the survey.
    Campaign(Box<campaign::Args>),
    /// Simulated residents answering survey calls: a fake phone network.
    Residents(residents::Args),
    /// Print a campaign's funnel and answers; write HTML, CSV and JSON reports.
    Report(report::Args),
    /// Delete numbers and recordings past their retention date.
    Purge(privacy::PurgeArgs),
    /// Show (export) or erase everything held about one phone number.
    Person(privacy::PersonArgs),
}

/// Parses the command line, runs the subcommand and returns its exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match cli.command {
        Command::Check(args) => check::run(args),
        Command::Synth(args) => synth::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Call(args) => call::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Campaign(args) => campaign::run(*args),
        Command::Residents(args) => residents::run(args),
        Command::Report(args) => report::run(args),
        Command::Purge(args) => privacy::run_purge(args),
        Command::Person(args) => privacy::run_person(args),
    }
}

/// Logs go to stderr so they never mix with a subcommand's output; the
/// level comes from `RUST_LOG` (default: warnings only).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // A second init (never expected) is not worth failing the command for.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Prints `error` with its causes to stderr and returns `code`.
pub fn fail(error: &dyn Error, code: u8) -> ExitCode {
    let mut message = format!("kuulo: error: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(&format!("\n  caused by: {cause}"));
        source = cause.source();
    }
    eprintln!("{message}");
    ExitCode::from(code)
}

/// "1 error", "2 errors".
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_subcommand_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn campaign_run_parses_every_option_type() {
        let cli = Cli::try_parse_from([
            "kuulo",
            "campaign",
            "run",
            "--script",
            "s.toml",
            "--trunk",
            "sip:127.0.0.1:5070",
            "--db",
            "r.sqlite",
            "--retry-busy",
            "90s",
            "--retry-no-answer",
            "never",
            "--holidays",
            "2026-12-24,2026-12-25",
            "--tz",
            "Europe/Stockholm",
            "--cps",
            "2.5",
        ])
        .unwrap();
        assert!(matches!(cli.command, Command::Campaign(_)));
        assert!(Cli::try_parse_from(["kuulo", "campaign", "run", "--retry-busy", "soon"]).is_err());
    }
}
