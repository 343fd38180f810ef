//! `kuulo check SURVEY.toml`: validate a survey script before any call.

use std::path::PathBuf;
use std::process::ExitCode;

use kuulo_ivr::Report;

use super::{count, exit, fail};

/// Arguments of `kuulo check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The survey script (a `survey.toml` file).
    pub script: PathBuf,
}

/// Why a script could not even be checked.
#[derive(Debug, thiserror::Error)]
#[error("cannot read survey script {}; check the path and that the file is readable UTF-8 text", path.display())]
pub struct ReadError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

/// Prints every finding and a summary; exits 0 when the script can run,
/// 1 when it has errors, 2 when the file cannot be read.
pub fn run(args: Args) -> ExitCode {
    let report = match load(&args.script) {
        Ok(report) => report,
        Err(e) => return fail(&e, exit::TROUBLE),
    };
    print_report(&report);
    if report.has_errors() {
        ExitCode::from(exit::FINDINGS)
    } else {
        ExitCode::SUCCESS
    }
}

/// Reads and checks a script; reading is done here rather than by
/// `kuulo_ivr::check` so an unreadable file gets its own exit code.
pub fn load(path: &std::path::Path) -> Result<Report, ReadError> {
    let src = std::fs::read_to_string(path).map_err(|source| ReadError {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(kuulo_ivr::check_source(&src, path))
}

/// One line per finding (each with its hint), then `N errors, M warnings`.
pub fn print_report(report: &Report) {
    for diagnostic in &report.diagnostics {
        println!("{diagnostic}");
    }
    println!(
        "{}, {}",
        count(report.errors().count(), "error"),
        count(report.warnings().count(), "warning")
    );
}
