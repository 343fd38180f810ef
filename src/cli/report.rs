//! `kuulo report --db FILE`: a campaign's funnel and answers in the
//! terminal, and on request the HTML page and the analysts' CSV and JSON
//! exports.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use kuulo_campaign::{
    export_csv, export_json, render_html, Campaign, CampaignId, Report, ReportError, Store,
    StoreError,
};

use super::{exit, fail};

/// Arguments of `kuulo report`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The results store (the SQLite file a campaign or `kuulo serve` wrote).
    #[arg(long, value_name = "FILE")]
    pub db: PathBuf,
    /// The campaign to report on; default: the only, or the latest, one.
    #[arg(long, value_name = "ID")]
    pub campaign: Option<i64>,
    /// Also write the report as one self-contained HTML page with charts.
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
    /// Also export every answer as CSV (pseudonymous, no phone numbers).
    #[arg(long, value_name = "PATH")]
    pub csv: Option<PathBuf>,
    /// Also export the report and every answer as JSON (pseudonymous).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
}

/// Where [`write_reports`] writes, besides the terminal. `None` skips a
/// format.
#[derive(Debug, Clone, Default)]
pub struct ReportFiles {
    /// The HTML page.
    pub html: Option<PathBuf>,
    /// The CSV export of the answers.
    pub csv: Option<PathBuf>,
    /// The JSON export of the report and the answers.
    pub json: Option<PathBuf>,
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportCliError {
    /// `--db` names no file; opening would create an empty store.
    #[error("no results store at {}; give the file a campaign or `kuulo serve` wrote with --db", .0.display())]
    NoStore(PathBuf),
    /// The store holds no campaign yet.
    #[error("the results store {} holds no campaign yet; run a campaign or `kuulo serve` first", .0.display())]
    NoCampaign(PathBuf),
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing one of the files failed.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: ReportError,
    },
}

/// Prints the report and writes the files asked for; exits 0, or 2 when
/// the store cannot be read or a file cannot be written.
pub fn run(args: Args) -> ExitCode {
    match report(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e, exit::TROUBLE),
    }
}

fn report(args: &Args) -> Result<(), ReportCliError> {
    // Store::open creates a missing file; a typo in --db should not.
    if !args.db.exists() {
        return Err(ReportCliError::NoStore(args.db.clone()));
    }
    let store = Store::open(&args.db)?;
    let campaign = pick_campaign(&store, &args.db, args.campaign)?;
    let files = ReportFiles {
        html: args.html.clone(),
        csv: args.csv.clone(),
        json: args.json.clone(),
    };
    write_reports(&store, campaign, &files)?;
    Ok(())
}

/// The campaign `wanted`, or else the only or latest one in the store. When
/// the store holds several and none was asked for, the others are listed on
/// stderr so the user learns the `--campaign` ids.
pub(crate) fn pick_campaign(
    store: &Store,
    db: &Path,
    wanted: Option<i64>,
) -> Result<CampaignId, ReportCliError> {
    if let Some(id) = wanted {
        // Fails with UnknownCampaign, which says how to list them.
        return Ok(store.campaign(CampaignId(id))?.id);
    }
    let campaigns = store.campaigns()?;
    let latest = campaigns
        .last()
        .ok_or_else(|| ReportCliError::NoCampaign(db.to_path_buf()))?;
    if campaigns.len() > 1 {
        eprintln!("kuulo: {} campaigns in the store; reporting on the latest (choose one with --campaign ID):", campaigns.len());
        for Campaign {
            id,
            title,
            script_id,
            ..
        } in &campaigns
        {
            eprintln!("  {:>4}  {title} (script {script_id})", id.0);
        }
    }
    Ok(latest.id)
}

/// Prints `campaign`'s report to stdout and writes each file of `files`
/// (HTML page, CSV and JSON exports); returns the report so a caller can
/// add its own summary. One call for every subcommand that ends with a
/// report.
pub(crate) fn write_reports(
    store: &Store,
    campaign: CampaignId,
    files: &ReportFiles,
) -> Result<Report, ReportCliError> {
    let report = Report::build(store, campaign)?;
    print!("{report}");
    if let Some(path) = &files.html {
        write_file(path, |out| {
            out.write_all(render_html(&report).as_bytes())?;
            Ok(())
        })?;
    }
    if let Some(path) = &files.csv {
        write_file(path, |out| export_csv(store, campaign, out))?;
    }
    if let Some(path) = &files.json {
        write_file(path, |out| export_json(store, campaign, out))?;
    }
    let written = [
        ("HTML report", &files.html),
        ("CSV export", &files.csv),
        ("JSON export", &files.json),
    ];
    if written.iter().any(|(_, path)| path.is_some()) {
        println!();
    }
    for (what, path) in written {
        if let Some(path) = path {
            println!("{what}: {}", path.display());
        }
    }
    Ok(report)
}

/// Creates `path` and fills it with `body`, flushing before success so a
/// full disk is an error here, not a truncated file later.
fn write_file(
    path: &Path,
    body: impl FnOnce(&mut BufWriter<File>) -> Result<(), ReportError>,
) -> Result<(), ReportCliError> {
    let wrap = |source: ReportError| ReportCliError::Write {
        path: path.to_path_buf(),
        source,
    };
    let file = File::create(path).map_err(|e| wrap(e.into()))?;
    let mut out = BufWriter::new(file);
    body(&mut out).map_err(wrap)?;
    out.flush().map_err(|e| wrap(e.into()))?;
    out.get_ref().sync_all().map_err(|e| wrap(e.into()))
}
