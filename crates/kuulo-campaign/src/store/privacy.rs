//! The store's side of privacy: purging data past its retention date, and
//! a resident's right of access and erasure across every campaign.
//!
//! Retention is measured from when the data was collected: a recording
//! from its call's start, a queue entry (the number and its import
//! attributes) from the last call to that number, or from the campaign's
//! creation if it was never called. What survives a purge identifies
//! nobody: the pseudonymous answers and calls, and how many queue entries
//! there were in each state, so the report reads the same afterwards.
//!
//! Files are deleted before their rows are, inside the same transaction:
//! a crash in between leaves rows whose files are gone (the next run counts
//! them as missing and removes the rows), never an audio file nothing
//! points to any more.

use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rusqlite::{params, OptionalExtension, Transaction};
use serde_json::{json, Value};
use thiserror::Error;

use super::{campaign_secret, write, Store};
use crate::error::StoreError;
use crate::pseudonym::{check_e164, keyed_hash, pseudonym};
use crate::types::{
    encode_answer, to_millis, Campaign, CampaignId, DoNotCall, Erased, PersonData, Pseudonym,
};

/// Seconds in a day; retention in days counts whole 24-hour days.
const DAY_SECS: u64 = 86_400;

/// The moment before which collected data is past retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cutoff(SystemTime);

/// A `--before` date that is not a calendar date.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0:?} is not a date; write it as YYYY-MM-DD, for example 2026-01-31")]
pub struct BadDate(pub String);

impl Cutoff {
    /// Everything collected before `time`.
    pub fn at(time: SystemTime) -> Cutoff {
        Cutoff(time)
    }

    /// Everything collected before the start (00:00 UTC) of `date`, given
    /// as `YYYY-MM-DD`. UTC, because the store keeps UTC: in Finland the
    /// day then starts two or three hours early, so a purge errs towards
    /// deleting, never towards keeping data past its date.
    pub fn before_date(date: &str) -> Result<Cutoff, BadDate> {
        let day = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
            .map_err(|_| BadDate(date.to_owned()))?;
        let midnight = day.and_hms_opt(0, 0, 0).expect("00:00:00 is a valid time");
        let secs = midnight.and_utc().timestamp();
        let since_epoch = Duration::from_secs(u64::try_from(secs).unwrap_or(0));
        Ok(Cutoff(SystemTime::UNIX_EPOCH + since_epoch))
    }

    /// Everything collected more than `days` whole days before `now`.
    pub fn retention_days(days: u32, now: SystemTime) -> Cutoff {
        let age = Duration::from_secs(u64::from(days) * DAY_SECS);
        // The store keeps no time before 1970, so that is the earliest.
        let cutoff = now
            .checked_sub(age)
            .filter(|t| *t >= SystemTime::UNIX_EPOCH);
        Cutoff(cutoff.unwrap_or(SystemTime::UNIX_EPOCH))
    }

    /// The cutoff as a time.
    pub fn time(self) -> SystemTime {
        self.0
    }
}

impl std::fmt::Display for Cutoff {
    /// ISO 8601 in UTC, such as `2026-01-01T00:00:00.000Z`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&utc(self.0))
    }
}

/// What to purge, see [`Store::purge`].
#[derive(Debug, Clone)]
pub struct PurgeRequest<'a> {
    /// One campaign, or every campaign if `None`.
    pub campaign: Option<CampaignId>,
    /// Data collected before this goes.
    pub cutoff: Cutoff,
    /// The recordings folder the stored paths are relative to.
    pub recordings: &'a Path,
    /// Count what would go, delete nothing.
    pub dry_run: bool,
}

/// Recording files deleted (or, in a dry run, that would be).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileSweep {
    /// Files deleted.
    pub deleted: u64,
    /// Their total size in bytes.
    pub bytes_freed: u64,
    /// Files the store listed but the folder no longer held, relative to
    /// the recordings folder; their rows are removed all the same.
    pub missing: Vec<PathBuf>,
}

impl FileSweep {
    fn add(&mut self, other: &FileSweep) {
        self.deleted += other.deleted;
        self.bytes_freed += other.bytes_freed;
        self.missing.extend(other.missing.iter().cloned());
    }
}

/// What a purge removed from one campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignPurge {
    /// The campaign.
    pub campaign: CampaignId,
    /// Queue entries removed, each with its number and import attributes.
    pub numbers_removed: u64,
    /// Of those, entries that were still waiting for a call: the campaign
    /// will not call them any more.
    pub calling_ended: u64,
    /// Recording files and their rows.
    pub recordings: FileSweep,
    /// The pseudonym secret was deleted by this purge: the campaign had no
    /// number left and nothing collected after the cutoff, so its answers
    /// can no longer be linked to anyone.
    pub secret_deleted: bool,
    /// The secret was already gone before this purge.
    pub already_anonymous: bool,
}

/// What [`Store::purge`] removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeSummary {
    /// Nothing was deleted; the figures say what a real run would delete.
    pub dry_run: bool,
    /// The cutoff used.
    pub cutoff: Cutoff,
    /// One entry per campaign looked at, oldest first.
    pub campaigns: Vec<CampaignPurge>,
}

impl PurgeSummary {
    /// Queue entries (numbers) removed in all campaigns.
    pub fn numbers_removed(&self) -> u64 {
        self.campaigns.iter().map(|c| c.numbers_removed).sum()
    }

    /// Recording files removed in all campaigns, with their bytes and the
    /// missing ones.
    pub fn recordings(&self) -> FileSweep {
        let mut all = FileSweep::default();
        for c in &self.campaigns {
            all.add(&c.recordings);
        }
        all
    }

    /// Campaigns whose pseudonym secret this purge deleted.
    pub fn secrets_deleted(&self) -> usize {
        self.campaigns.iter().filter(|c| c.secret_deleted).count()
    }
}

/// Everything the store holds about one phone number, in every campaign:
/// what `kuulo person export` shows (the right of access).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonExport {
    /// The number, in E.164 form.
    pub e164: String,
    /// Campaigns that hold something about the number, oldest first.
    pub campaigns: Vec<(Campaign, PersonData)>,
    /// Campaigns whose pseudonym secret was purged: whatever this person
    /// said in them can no longer be found from their number (nor by
    /// anyone else), so it is anonymous and not part of the export.
    pub unlinkable: Vec<Campaign>,
    /// Their do-not-call entry, which holds across campaigns.
    pub do_not_call: Option<DoNotCall>,
}

impl PersonExport {
    /// True if the store holds nothing linked to the number.
    pub fn is_empty(&self) -> bool {
        self.campaigns.is_empty() && self.do_not_call.is_none()
    }

    /// The export as JSON; recording paths are joined to `recordings`,
    /// the folder the store's relative paths point into.
    pub fn to_json(&self, recordings: &Path) -> Value {
        let campaigns: Vec<Value> = self
            .campaigns
            .iter()
            .map(|(campaign, data)| {
                let queue_entry = data.contact.as_ref().map(|c| {
                    json!({
                        "number": c.e164,
                        // Stored as a JSON object; shown as one, not as text.
                        "attributes": serde_json::from_str::<Value>(&c.attributes)
                            .unwrap_or_else(|_| Value::String(c.attributes.clone())),
                        "state": c.state,
                        "attempts": c.attempts,
                        "last_disposition": c.last_disposition.map(|d| d.as_str()),
                    })
                });
                let calls: Vec<Value> = data
                    .calls
                    .iter()
                    .map(|call| {
                        let answers: Vec<Value> = call
                            .answers
                            .iter()
                            .map(|a| {
                                let (kind, value, duration_ms) = encode_answer(&a.value);
                                json!({
                                    "question": a.question,
                                    "kind": kind,
                                    "value": value,
                                    "duration_ms": duration_ms,
                                    "at": utc(a.at),
                                })
                            })
                            .collect();
                        let recordings: Vec<Value> = call
                            .recordings
                            .iter()
                            .map(|r| {
                                json!({
                                    "question": r.question,
                                    "path": recordings.join(&r.path).display().to_string(),
                                    "duration_ms": r.duration_ms,
                                })
                            })
                            .collect();
                        json!({
                            "call_id": call.id.as_str(),
                            "started": utc(call.started),
                            "ended": call.ended.map(utc),
                            "disposition": call.disposition.map(|d| d.as_str()),
                            "sip_status": call.sip_status,
                            "language": call.language,
                            "answers": answers,
                            "recordings": recordings,
                        })
                    })
                    .collect();
                json!({
                    "campaign": campaign.id.0,
                    "title": campaign.title,
                    "script_id": campaign.script_id,
                    "pseudonym": data.pseudonym.as_str(),
                    "queue_entry": queue_entry,
                    "calls": calls,
                })
            })
            .collect();
        let unlinkable: Vec<Value> = self
            .unlinkable
            .iter()
            .map(|c| json!({ "campaign": c.id.0, "title": c.title }))
            .collect();
        json!({
            "number": self.e164,
            "do_not_call": self.do_not_call.as_ref().map(|d| json!({
                "reason": d.reason,
                "since": utc(d.at),
            })),
            "campaigns": campaigns,
            "purged_campaigns": unlinkable,
        })
    }
}

/// What [`Store::erase_person`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonErased {
    /// Per campaign that held something: the queue entry, calls, answers
    /// and the recordings' paths (relative to the recordings folder).
    pub campaigns: Vec<(CampaignId, Erased)>,
    /// The recording files.
    pub files: FileSweep,
    /// Whether a do-not-call entry was erased.
    pub do_not_call_erased: bool,
    /// Whether a do-not-call entry exists and was kept.
    pub do_not_call_kept: bool,
    /// Campaigns already purged: nothing in them can be found from the
    /// number, so nothing there is theirs to erase.
    pub unlinkable: Vec<CampaignId>,
}

impl PersonErased {
    /// True if nothing was erased.
    pub fn is_empty(&self) -> bool {
        self.campaigns.is_empty() && !self.do_not_call_erased
    }
}

impl Store {
    /// Purges what was collected before the request's cutoff: the numbers
    /// (queue entries with their import attributes) and the recording
    /// files with their rows. A campaign left with no number and nothing
    /// collected after the cutoff also loses its pseudonym secret, so
    /// nothing can ever be linked to a number again.
    ///
    /// Answers and calls stay (they are pseudonymous, anonymous once the
    /// secret is gone), and so do the counts of purged queue entries, so
    /// [`Store::funnel`] and the report read the same afterwards. Running
    /// it twice removes nothing the second time. Each campaign is one
    /// transaction.
    pub fn purge(&mut self, request: &PurgeRequest<'_>) -> Result<PurgeSummary, StoreError> {
        let campaigns = match request.campaign {
            Some(id) => vec![self.campaign(id)?],
            None => self.campaigns()?,
        };
        let cutoff = to_millis(request.cutoff.time());
        let mut summary = PurgeSummary {
            dry_run: request.dry_run,
            cutoff: request.cutoff,
            campaigns: Vec::with_capacity(campaigns.len()),
        };
        for campaign in campaigns {
            let tx = write(&mut self.conn)?;
            let purged =
                purge_campaign(&tx, &campaign, cutoff, request.recordings, request.dry_run)?;
            if request.dry_run {
                tx.rollback()?;
            } else {
                tx.commit()?;
            }
            summary.campaigns.push(purged);
        }
        if !request.dry_run {
            checkpoint(&self.conn)?;
        }
        Ok(summary)
    }

    /// Everything stored about `e164` (E.164 form) in every campaign: the
    /// right of access.
    pub fn export_person(&self, e164: &str) -> Result<PersonExport, StoreError> {
        let e164 = check_e164(e164)?;
        let mut export = PersonExport {
            e164: e164.to_owned(),
            campaigns: Vec::new(),
            unlinkable: Vec::new(),
            do_not_call: self.do_not_call(e164)?,
        };
        for campaign in self.campaigns()? {
            match self.person_export(campaign.id, e164) {
                Ok(data) if data.contact.is_none() && data.calls.is_empty() => {}
                Ok(data) => export.campaigns.push((campaign, data)),
                Err(StoreError::Purged(_)) => export.unlinkable.push(campaign),
                Err(e) => return Err(e),
            }
        }
        Ok(export)
    }

    /// Erases everything stored about `e164` (E.164 form) in every
    /// campaign: queue entries, calls, answers, recording rows and the
    /// recording files under `recordings`, in one transaction.
    ///
    /// The do-not-call entry is erased only if `erase_do_not_call`: it
    /// holds only a keyed hash of the number, and erasing it would put the
    /// resident back on the calling lists they asked to leave.
    pub fn erase_person(
        &mut self,
        e164: &str,
        recordings: &Path,
        erase_do_not_call: bool,
    ) -> Result<PersonErased, StoreError> {
        let e164 = check_e164(e164)?;
        let campaigns = self.campaigns()?;
        let dnc_hash = keyed_hash(&self.dnc_key, e164);
        let tx = write(&mut self.conn)?;
        let mut erased = PersonErased::default();
        let mut linked = Vec::new();
        for campaign in campaigns {
            match campaign_secret(&tx, campaign.id) {
                Ok(secret) => linked.push((campaign.id, pseudonym(&secret, e164))),
                Err(StoreError::Purged(id)) => erased.unlinkable.push(id),
                Err(e) => return Err(e),
            }
        }
        // Every file goes before any row, so a failure or a crash can only
        // leave rows pointing at deleted files, which a rerun clears.
        let mut paths = Vec::new();
        for (campaign, who) in &linked {
            paths.extend(recording_paths(&tx, *campaign, who)?);
        }
        erased.files = sweep_files(recordings, &paths, false)?;
        for (campaign, who) in &linked {
            let one = erase_in(&tx, *campaign, e164, who)?;
            if one != Erased::default() {
                erased.campaigns.push((*campaign, one));
            }
        }
        if erase_do_not_call {
            erased.do_not_call_erased = tx.execute(
                "DELETE FROM do_not_call WHERE number_hash = ?1",
                [dnc_hash.as_str()],
            )? > 0;
        } else {
            erased.do_not_call_kept = tx
                .query_row(
                    "SELECT 1 FROM do_not_call WHERE number_hash = ?1",
                    [dnc_hash.as_str()],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
        }
        tx.commit()?;
        checkpoint(&self.conn)?;
        Ok(erased)
    }
}

/// The purge of one campaign inside `tx`.
fn purge_campaign(
    tx: &Transaction<'_>,
    campaign: &Campaign,
    cutoff: i64,
    recordings: &Path,
    dry_run: bool,
) -> Result<CampaignPurge, StoreError> {
    let id = campaign.id.0;
    let created = to_millis(campaign.created);
    let has_secret: bool = tx.query_row(
        "SELECT secret IS NOT NULL FROM campaigns WHERE id = ?1",
        [id],
        |r| r.get(0),
    )?;

    let old_recordings: Vec<String> = {
        let mut stmt = tx.prepare(
            "SELECT r.path FROM recordings r JOIN calls c ON c.id = r.call_id
             WHERE c.campaign_id = ?1 AND c.started_at < ?2 ORDER BY r.rowid",
        )?;
        let rows = stmt.query_map(params![id, cutoff], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    let swept = sweep_files(recordings, &old_recordings, dry_run)?;
    tx.execute(
        "DELETE FROM recordings WHERE call_id IN
             (SELECT id FROM calls WHERE campaign_id = ?1 AND started_at < ?2)",
        params![id, cutoff],
    )?;

    // A queue entry was last used by its latest call; one never called was
    // imported when the campaign was made (entries carry no time of their
    // own).
    const PAST: &str = "campaign_id = ?1 AND coalesce(
             (SELECT max(k.started_at) FROM calls k
              WHERE k.campaign_id = contacts.campaign_id AND k.pseudonym = contacts.pseudonym),
             ?3) < ?2";
    let calling_ended: u64 = tx.query_row(
        &format!(
            "SELECT count(*) FROM contacts WHERE {PAST} AND state IN ('pending', 'in_progress')"
        ),
        params![id, cutoff, created],
        |r| r.get(0),
    )?;
    tx.execute(
        &format!(
            "INSERT INTO purged_contacts (campaign_id, state, exclusion_reason, count)
             SELECT campaign_id, state, coalesce(exclusion_reason, ''), count(*)
             FROM contacts WHERE {PAST}
             GROUP BY state, coalesce(exclusion_reason, '')
             ON CONFLICT (campaign_id, state, exclusion_reason)
             DO UPDATE SET count = count + excluded.count"
        ),
        params![id, cutoff, created],
    )?;
    let numbers_removed = tx.execute(
        &format!("DELETE FROM contacts WHERE {PAST}"),
        params![id, cutoff, created],
    )? as u64;

    // The secret is what links a number to its answers. It may go only
    // when no number is left to link and nobody was called after the
    // cutoff: their right of access still needs it.
    let mut secret_deleted = false;
    if has_secret && created < cutoff {
        let remaining: i64 = tx.query_row(
            "SELECT (SELECT count(*) FROM contacts WHERE campaign_id = ?1)
                  + (SELECT count(*) FROM calls WHERE campaign_id = ?1 AND started_at >= ?2)",
            params![id, cutoff],
            |r| r.get(0),
        )?;
        if remaining == 0 {
            tx.execute("UPDATE campaigns SET secret = NULL WHERE id = ?1", [id])?;
            secret_deleted = true;
        }
    }
    Ok(CampaignPurge {
        campaign: campaign.id,
        numbers_removed,
        calling_ended,
        recordings: swept,
        secret_deleted,
        already_anonymous: !has_secret,
    })
}

/// Paths of every recording of `who` in `campaign`.
fn recording_paths(
    tx: &Transaction<'_>,
    campaign: CampaignId,
    who: &Pseudonym,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = tx.prepare(
        "SELECT r.path FROM recordings r JOIN calls c ON c.id = r.call_id
         WHERE c.campaign_id = ?1 AND c.pseudonym = ?2 ORDER BY r.rowid",
    )?;
    let rows = stmt.query_map(params![campaign.0, who.as_str()], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deletes the rows of `e164` (pseudonym `who`) in `campaign` inside `tx`:
/// the body of [`Store::person_erase`] and [`Store::erase_person`].
pub(super) fn erase_in(
    tx: &Transaction<'_>,
    campaign: CampaignId,
    e164: &str,
    who: &Pseudonym,
) -> Result<Erased, StoreError> {
    let recording_files = recording_paths(tx, campaign, who)?
        .into_iter()
        .map(PathBuf::from)
        .collect();
    let answers = tx.query_row(
        "SELECT count(*) FROM answers a JOIN calls c ON c.id = a.call_id
         WHERE c.campaign_id = ?1 AND c.pseudonym = ?2",
        params![campaign.0, who.as_str()],
        |r| r.get(0),
    )?;
    // Answers and recordings go with their calls (ON DELETE CASCADE).
    let calls = tx.execute(
        "DELETE FROM calls WHERE campaign_id = ?1 AND pseudonym = ?2",
        params![campaign.0, who.as_str()],
    )?;
    let contact = tx.execute(
        "DELETE FROM contacts WHERE campaign_id = ?1 AND e164 = ?2",
        params![campaign.0, e164],
    )? > 0;
    Ok(Erased {
        contact,
        calls,
        answers,
        recording_files,
    })
}

/// Deletes (or in a dry run, measures) the files at `paths` under
/// `folder`. A file already gone is counted as missing, not an error, so
/// a rerun after a crash goes through.
fn sweep_files(folder: &Path, paths: &[String], dry_run: bool) -> Result<FileSweep, StoreError> {
    let mut sweep = FileSweep::default();
    if !paths.is_empty() && !folder.is_dir() {
        return Err(StoreError::NoRecordingsFolder(folder.to_path_buf()));
    }
    for path in paths {
        let relative = Path::new(path);
        // Checked when stored, and again here: a hand-edited row must not
        // make a purge delete files outside the recordings folder.
        if relative.as_os_str().is_empty()
            || !relative
                .components()
                .all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(StoreError::BadRecordingPath(relative.to_path_buf()));
        }
        let full = folder.join(relative);
        let failed = |source| StoreError::RecordingFile {
            path: full.clone(),
            source,
        };
        let size = match std::fs::symlink_metadata(&full) {
            Ok(meta) => meta.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                sweep.missing.push(relative.to_path_buf());
                continue;
            }
            Err(e) => return Err(failed(e)),
        };
        if !dry_run {
            match std::fs::remove_file(&full) {
                Ok(()) => remove_empty_parents(folder, relative),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    sweep.missing.push(relative.to_path_buf());
                    continue;
                }
                Err(e) => return Err(failed(e)),
            }
        }
        sweep.deleted += 1;
        sweep.bytes_freed += size;
    }
    Ok(sweep)
}

/// Removes the folders between `folder` and a deleted file that are now
/// empty (a recording stored as `CALL/question.wav` leaves `CALL/`).
fn remove_empty_parents(folder: &Path, relative: &Path) {
    let mut dir = relative.parent();
    while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
        // Fails, as it should, on a folder that still holds something.
        if std::fs::remove_dir(folder.join(d)).is_err() {
            return;
        }
        dir = d.parent();
    }
}

/// Copies committed pages home and empties the WAL, which still holds the
/// pages as they were before a deletion, so deleted data is gone from disk.
fn checkpoint(conn: &rusqlite::Connection) -> Result<(), StoreError> {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}

/// ISO 8601 in UTC with milliseconds, as a data-protection officer reads.
fn utc(t: SystemTime) -> String {
    DateTime::<Utc>::from(t).to_rfc3339_opts(SecondsFormat::Millis, true)
}
