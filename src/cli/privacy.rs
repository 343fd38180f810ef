//! `kuulo purge` and `kuulo person export|erase`: the data-protection
//! officer's commands.
//!
//! - `kuulo purge --db F (--before DATE | --retention-days N)` deletes the
//!   phone numbers and voice recordings collected before the cutoff, and
//!   the pseudonym secret of a campaign with nothing left to link. Retention
//!   runs from when the data was collected: a recording from its call, a
//!   number from the last call to it (or from the campaign's start if it
//!   was never called). The report reads the same afterwards.
//! - `kuulo person export --db F NUMBER` prints as JSON everything held
//!   about one number in every campaign (the right of access).
//! - `kuulo person erase --db F NUMBER` erases it (the right of erasure).
//!   The do-not-call entry stays unless `--erase-do-not-call` is given:
//!   it holds only a keyed hash of the number, and without it the resident
//!   would be called again by the next campaign, the opposite of what they
//!   asked.
//!
//! Numbers may be written as people write them (`040 123 4567`); they are
//! normalised as at import, so they find the same data.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use kuulo_campaign::{
    normalise_number, CampaignId, Cutoff, FileSweep, NumberError, PurgeRequest, PurgeSummary,
    Store, StoreError,
};

use super::{count, exit, fail};

/// Arguments of `kuulo purge`.
#[derive(Debug, clap::Args)]
#[command(group(
    clap::ArgGroup::new("cutoff")
        .required(true)
        .args(["before", "retention_days"])
))]
pub struct PurgeArgs {
    /// The results store (SQLite file).
    #[arg(long)]
    pub db: PathBuf,
    /// Purge only this campaign [default: every campaign].
    #[arg(long)]
    pub campaign: Option<i64>,
    /// Purge what was collected before this day (YYYY-MM-DD; the day starts
    /// at 00:00 UTC).
    #[arg(long, value_name = "DATE", value_parser = Cutoff::before_date)]
    pub before: Option<Cutoff>,
    /// Purge what was collected more than N days ago.
    #[arg(long, value_name = "N")]
    pub retention_days: Option<u32>,
    /// Folder of the voice answers [default: `recordings` next to --db].
    #[arg(long)]
    pub recordings: Option<PathBuf>,
    /// Print what would be deleted, and delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Arguments of `kuulo person`.
#[derive(Debug, clap::Args)]
pub struct PersonArgs {
    #[command(subcommand)]
    action: PersonAction,
}

/// What to do with one resident's data.
#[derive(Debug, clap::Subcommand)]
enum PersonAction {
    /// Print as JSON everything held about a phone number (right of access).
    Export(ExportArgs),
    /// Erase everything held about a phone number (right of erasure).
    Erase(EraseArgs),
}

/// Arguments of `kuulo person export`.
#[derive(Debug, clap::Args)]
struct ExportArgs {
    /// The results store (SQLite file).
    #[arg(long)]
    db: PathBuf,
    /// Folder of the voice answers [default: `recordings` next to --db].
    #[arg(long)]
    recordings: Option<PathBuf>,
    /// The phone number, as +358401234567 or 040 123 4567.
    number: String,
}

/// Arguments of `kuulo person erase`.
#[derive(Debug, clap::Args)]
struct EraseArgs {
    /// The results store (SQLite file).
    #[arg(long)]
    db: PathBuf,
    /// Folder of the voice answers [default: `recordings` next to --db].
    #[arg(long)]
    recordings: Option<PathBuf>,
    /// The phone number, as +358401234567 or 040 123 4567.
    number: String,
    /// Keep the do-not-call entry (the default; for scripts that say so).
    #[arg(long, conflicts_with = "erase_do_not_call")]
    keep_do_not_call: bool,
    /// Erase the do-not-call entry too; the resident may then be called
    /// again by a later campaign.
    #[arg(long)]
    erase_do_not_call: bool,
}

/// Why a privacy command failed.
#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    /// `--db` names no file; opening would create an empty store and
    /// report that nothing is held, which would be untrue.
    #[error("no results store at {}; give the file a campaign or `kuulo serve` wrote with --db", .0.display())]
    NoStore(PathBuf),
    /// The number could not be read.
    #[error("{0:?} is not a phone number; write it as +358401234567 or 040 123 4567")]
    Number(String, #[source] NumberError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs `kuulo purge`.
pub fn run_purge(args: PurgeArgs) -> ExitCode {
    match purge(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e, exit::TROUBLE),
    }
}

/// Runs `kuulo person export|erase`.
pub fn run_person(args: PersonArgs) -> ExitCode {
    let done = match args.action {
        PersonAction::Export(args) => export(&args),
        PersonAction::Erase(args) => erase(&args),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e, exit::TROUBLE),
    }
}

fn purge(args: &PurgeArgs) -> Result<(), PrivacyError> {
    let mut store = open(&args.db)?;
    let cutoff = match (args.before, args.retention_days) {
        (Some(before), _) => before,
        // clap's group makes one of the two required.
        (None, days) => Cutoff::retention_days(days.unwrap_or(0), SystemTime::now()),
    };
    let recordings = recordings_folder(&args.db, args.recordings.as_deref());
    let titles = store.campaigns()?;
    let summary = store.purge(&PurgeRequest {
        campaign: args.campaign.map(CampaignId),
        cutoff,
        recordings: &recordings,
        dry_run: args.dry_run,
    })?;
    print_purge(&summary, &titles);
    Ok(())
}

fn print_purge(summary: &PurgeSummary, campaigns: &[kuulo_campaign::Campaign]) {
    let (remove, delete) = if summary.dry_run {
        ("would remove", "would delete")
    } else {
        ("removed", "deleted")
    };
    println!(
        "kuulo purge: data collected before {}{}",
        summary.cutoff,
        if summary.dry_run {
            " (dry run: nothing is deleted)"
        } else {
            ""
        }
    );
    for c in &summary.campaigns {
        let title = campaigns
            .iter()
            .find(|k| k.id == c.campaign)
            .map_or("", |k| k.title.as_str());
        let mut line = format!(
            "campaign {} ({title}): {remove} {} ({} still waiting for a call), {delete} {}",
            c.campaign,
            count(c.numbers_removed as usize, "number"),
            c.calling_ended,
            files(&c.recordings),
        );
        if c.secret_deleted {
            line.push_str(&format!(
                "; {delete} the pseudonym secret: its answers are now anonymous"
            ));
        } else if c.already_anonymous {
            line.push_str("; already anonymous");
        }
        println!("{line}");
        for missing in &c.recordings.missing {
            println!("  missing recording file: {}", missing.display());
        }
    }
    println!(
        "total: {remove} {}, {delete} {}; {delete} {}",
        count(summary.numbers_removed() as usize, "number"),
        files(&summary.recordings()),
        count(summary.secrets_deleted(), "pseudonym secret"),
    );
}

/// "2 recordings (2000 bytes), 1 missing".
fn files(sweep: &FileSweep) -> String {
    format!(
        "{} ({} bytes), {} missing",
        count(sweep.deleted as usize, "recording"),
        sweep.bytes_freed,
        sweep.missing.len()
    )
}

fn export(args: &ExportArgs) -> Result<(), PrivacyError> {
    let e164 = number(&args.number)?;
    let store = open(&args.db)?;
    let export = store.export_person(&e164)?;
    let recordings = recordings_folder(&args.db, args.recordings.as_deref());
    // `{:#}` is serde_json's pretty form.
    println!("{:#}", export.to_json(&recordings));
    Ok(())
}

fn erase(args: &EraseArgs) -> Result<(), PrivacyError> {
    let e164 = number(&args.number)?;
    let mut store = open(&args.db)?;
    let recordings = recordings_folder(&args.db, args.recordings.as_deref());
    let erased = store.erase_person(&e164, &recordings, args.erase_do_not_call)?;
    println!("kuulo person erase: {e164}");
    if erased.is_empty() {
        println!("nothing stored about {e164}");
    }
    for (campaign, e) in &erased.campaigns {
        println!(
            "campaign {campaign}: {}, {}, {}, {}",
            if e.contact {
                "queue entry with the number"
            } else {
                "no queue entry"
            },
            count(e.calls, "call"),
            count(e.answers, "answer"),
            count(e.recording_files.len(), "recording entry"),
        );
    }
    if !erased.campaigns.is_empty() {
        println!("recording files: deleted {}", files(&erased.files));
        for missing in &erased.files.missing {
            println!("  missing recording file: {}", missing.display());
        }
    }
    if erased.do_not_call_erased {
        println!("do-not-call entry erased: a later campaign may call this number again");
    } else if erased.do_not_call_kept {
        println!(
            "do-not-call entry kept, so this number is not called again (--erase-do-not-call erases it)"
        );
    }
    for campaign in &erased.unlinkable {
        println!(
            "campaign {campaign} is purged: its answers are anonymous and cannot be found from the number"
        );
    }
    Ok(())
}

/// Opens an existing store; a missing file is an error, not a new store.
fn open(db: &Path) -> Result<Store, PrivacyError> {
    if !db.exists() {
        return Err(PrivacyError::NoStore(db.to_path_buf()));
    }
    Ok(Store::open(db)?)
}

/// The number in E.164 form, normalised as contact lists are.
fn number(raw: &str) -> Result<String, PrivacyError> {
    normalise_number(raw).map_err(|e| PrivacyError::Number(raw.to_owned(), e))
}

/// `--recordings`, or `recordings` next to the store as `kuulo serve`,
/// `call` and `campaign` default to.
fn recordings_folder(db: &Path, given: Option<&Path>) -> PathBuf {
    given.map_or_else(
        || {
            db.parent()
                .unwrap_or_else(|| Path::new("."))
                .join("recordings")
        },
        Path::to_path_buf,
    )
}
