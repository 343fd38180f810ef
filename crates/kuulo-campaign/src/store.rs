//! The results store: one SQLite file per deployment (WAL mode).
//!
//! Every public operation is one transaction, so a crash (even SIGKILL)
//! leaves either all of an operation or none of it: never half an answer,
//! never a call counted without its attempt.

use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use kuulo_ivr::AnswerValue;
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

mod privacy;
mod queue;

use queue::finish_call_in;

pub use privacy::{
    BadDate, CampaignPurge, Cutoff, FileSweep, PersonErased, PersonExport, PurgeRequest,
    PurgeSummary,
};

pub use queue::{AnswerRow, FunnelCounts, QueueEntry, QueuedContact};

use crate::error::StoreError;
use crate::migrate::{current_version, migrate, setting_or_init};
use crate::pseudonym::{check_e164, keyed_hash, pseudonym};
use crate::types::{
    decode_answer, encode_answer, from_millis, to_millis, CallId, CallRecord, Campaign, CampaignId,
    ContactRecord, Disposition, DoNotCall, Erased, NewCampaign, PersonData, Pseudonym,
    RecordingEntry, StoredAnswer,
};

/// How long a writer waits for another process's lock before failing; a
/// report run next to a live campaign should wait, not error.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Bytes of each campaign secret and of the do-not-call key.
const SECRET_LEN: usize = 32;

/// The results store.
///
/// Methods take `&mut self` for writes: one owner, no locks inside. A
/// campaign driver owns one `Store`; a separate process (a report) can open
/// the same file at the same time thanks to WAL.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    /// Key of the do-not-call hashes, shared by all campaigns.
    dnc_key: Vec<u8>,
}

impl Store {
    /// Opens (creating if needed) the store at `path` and brings its schema
    /// up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref();
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // journal_mode answers with a row, so it cannot go in execute_batch.
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            // Only unusual file systems refuse WAL; the store still works,
            // but readers then block the writer, so warn rather than fail.
            tracing::warn!(path = %path.display(), %mode, "results store is not in WAL mode; reports may block a running campaign");
        }
        // NORMAL in WAL mode survives any process crash; only an OS crash or
        // power cut can lose the last commits, and never leaves them torn.
        // secure_delete overwrites erased rows, so an erased person's data
        // does not linger in free pages of the file.
        conn.execute_batch(
            "PRAGMA foreign_keys = ON;
             PRAGMA synchronous = NORMAL;
             PRAGMA secure_delete = ON;",
        )
        .map_err(open_err)?;
        migrate(&mut conn)?;
        let dnc_key = setting_or_init(&mut conn, "dnc_key")?;
        Ok(Store { conn, dnc_key })
    }

    /// The schema version of the file (the number of migrations applied).
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        current_version(&self.conn)
    }

    /// Creates a campaign with a fresh random secret for its pseudonyms.
    pub fn create_campaign(
        &mut self,
        campaign: &NewCampaign<'_>,
    ) -> Result<CampaignId, StoreError> {
        let tx = write(&mut self.conn)?;
        tx.execute(
            "INSERT INTO campaigns (script_id, title, secret, created_at, retention_until)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                campaign.script_id,
                campaign.title,
                random_secret(),
                to_millis(campaign.created),
                campaign.retention_until.map(to_millis),
            ],
        )?;
        let id = CampaignId(tx.last_insert_rowid());
        tx.commit()?;
        Ok(id)
    }

    /// The campaign with this id.
    pub fn campaign(&self, id: CampaignId) -> Result<Campaign, StoreError> {
        self.conn
            .query_row(
                "SELECT id, script_id, title, created_at, retention_until, secret IS NULL
                 FROM campaigns WHERE id = ?1",
                [id.0],
                campaign_row,
            )
            .optional()?
            .ok_or(StoreError::UnknownCampaign(id))
    }

    /// Every campaign, oldest first.
    pub fn campaigns(&self) -> Result<Vec<Campaign>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, script_id, title, created_at, retention_until, secret IS NULL
             FROM campaigns ORDER BY id",
        )?;
        let rows = stmt.query_map([], campaign_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The pseudonym of `e164` in `campaign`.
    pub fn pseudonym(&self, campaign: CampaignId, e164: &str) -> Result<Pseudonym, StoreError> {
        let e164 = check_e164(e164)?;
        Ok(pseudonym(&campaign_secret(&self.conn, campaign)?, e164))
    }

    /// Puts a number in the campaign's calling queue. `attributes` is a
    /// JSON object from the import (age, language, ...). Returns `false`
    /// if the number was already queued (duplicates merge, the first wins).
    pub fn add_contact(
        &mut self,
        campaign: CampaignId,
        e164: &str,
        attributes: &str,
    ) -> Result<bool, StoreError> {
        let e164 = check_e164(e164)?;
        let tx = write(&mut self.conn)?;
        let pseudonym = pseudonym(&campaign_secret(&tx, campaign)?, e164);
        let added = tx.execute(
            "INSERT INTO contacts (campaign_id, e164, pseudonym, attributes)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (campaign_id, e164) DO NOTHING",
            params![campaign.0, e164, pseudonym.as_str(), attributes],
        )?;
        tx.commit()?;
        Ok(added == 1)
    }

    /// Records that a call to (or from) `e164` has started and returns its
    /// new pseudonymous id. The queue entry, if any, counts one more
    /// attempt in the same transaction, so a crash right after dialling
    /// still counts the attempt.
    pub fn record_call_start(
        &mut self,
        campaign: CampaignId,
        e164: &str,
        at: SystemTime,
    ) -> Result<CallId, StoreError> {
        let e164 = check_e164(e164)?;
        let tx = write(&mut self.conn)?;
        let pseudonym = pseudonym(&campaign_secret(&tx, campaign)?, e164);
        let id = CallId::random();
        tx.execute(
            "INSERT INTO calls (id, campaign_id, pseudonym, started_at) VALUES (?1, ?2, ?3, ?4)",
            params![id.as_str(), campaign.0, pseudonym.as_str(), to_millis(at)],
        )?;
        tx.execute(
            "UPDATE contacts SET attempts = attempts + 1, state = 'in_progress'
             WHERE campaign_id = ?1 AND e164 = ?2",
            params![campaign.0, e164],
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// Records an inbound call whose number is withheld or not a phone
    /// number (a softphone's `sip:user@host`). It gets a random pseudonym
    /// of its own, so its answers count but can never be linked to anyone.
    pub fn record_anonymous_call_start(
        &mut self,
        campaign: CampaignId,
        at: SystemTime,
    ) -> Result<CallId, StoreError> {
        let tx = write(&mut self.conn)?;
        campaign_secret(&tx, campaign)?;
        let id = CallId::random();
        let pseudonym = crate::pseudonym::hex(&random_secret());
        tx.execute(
            "INSERT INTO calls (id, campaign_id, pseudonym, started_at) VALUES (?1, ?2, ?3, ?4)",
            params![id.as_str(), campaign.0, pseudonym, to_millis(at)],
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// Stores (or replaces) the answer to `question` on `call`. Called as
    /// each answer is given, so a hang-up later keeps it.
    pub fn store_answer(
        &mut self,
        call: &CallId,
        question: &str,
        value: &AnswerValue,
        at: SystemTime,
    ) -> Result<(), StoreError> {
        let (kind, text, duration) = encode_answer(value);
        let tx = write(&mut self.conn)?;
        ensure_call(&tx, call)?;
        tx.prepare_cached(
            "INSERT INTO answers (call_id, question, kind, value, duration_ms, answered_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (call_id, question) DO UPDATE SET
                 kind = excluded.kind, value = excluded.value,
                 duration_ms = excluded.duration_ms, answered_at = excluded.answered_at",
        )?
        .execute(params![
            call.as_str(),
            question,
            kind,
            text,
            duration.map(millis_to_sql),
            to_millis(at)
        ])?;
        tx.commit()?;
        Ok(())
    }

    /// Records where the audio of an open answer was written. `path` is
    /// relative to the campaign's recordings folder and should be named by
    /// the call id, never by number.
    pub fn record_recording(
        &mut self,
        call: &CallId,
        question: &str,
        path: &Path,
        duration_ms: u64,
    ) -> Result<(), StoreError> {
        let relative = path.components().all(|c| matches!(c, Component::Normal(_)));
        let text = path
            .to_str()
            .filter(|_| relative && !path.as_os_str().is_empty())
            .ok_or_else(|| StoreError::BadRecordingPath(path.to_path_buf()))?;
        let tx = write(&mut self.conn)?;
        ensure_call(&tx, call)?;
        tx.execute(
            "INSERT INTO recordings (call_id, question, path, duration_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (call_id, question) DO UPDATE SET
                 path = excluded.path, duration_ms = excluded.duration_ms",
            params![call.as_str(), question, text, millis_to_sql(duration_ms)],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Ends a call: its disposition, final SIP status and language. The
    /// queue entry gets the disposition too; a final one ([`Disposition::is_final`])
    /// takes the number off the queue, and an opt-out also puts it on the
    /// do-not-call list, all in one transaction.
    pub fn finish_call(
        &mut self,
        call: &CallId,
        disposition: Disposition,
        sip_status: Option<u16>,
        language: Option<&str>,
        at: SystemTime,
    ) -> Result<(), StoreError> {
        let tx = write(&mut self.conn)?;
        finish_call_in(
            &tx,
            &self.dnc_key,
            call,
            disposition,
            sip_status,
            language,
            at,
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Puts `e164` on the do-not-call list of every campaign, now and
    /// later. Marking a number twice keeps the first entry.
    pub fn mark_do_not_call(
        &mut self,
        e164: &str,
        reason: &str,
        at: SystemTime,
    ) -> Result<(), StoreError> {
        let e164 = check_e164(e164)?;
        let tx = write(&mut self.conn)?;
        insert_dnc(&tx, &self.dnc_key, e164, reason, at)?;
        tx.commit()?;
        Ok(())
    }

    /// The do-not-call entry of `e164`, if it has one.
    pub fn do_not_call(&self, e164: &str) -> Result<Option<DoNotCall>, StoreError> {
        let hash = keyed_hash(&self.dnc_key, check_e164(e164)?);
        Ok(self
            .conn
            .prepare_cached("SELECT reason, at FROM do_not_call WHERE number_hash = ?1")?
            .query_row([hash], |r| {
                Ok(DoNotCall {
                    reason: r.get(0)?,
                    at: from_millis(r.get(1)?),
                })
            })
            .optional()?)
    }

    /// The answers of one call, in the order first given.
    pub fn answers_for_call(&self, call: &CallId) -> Result<Vec<StoredAnswer>, StoreError> {
        answers_for_call(&self.conn, call)
    }

    /// Everything stored about `e164` in `campaign`: the right of access.
    pub fn person_export(
        &self,
        campaign: CampaignId,
        e164: &str,
    ) -> Result<PersonData, StoreError> {
        let e164 = check_e164(e164)?;
        let pseudonym = pseudonym(&campaign_secret(&self.conn, campaign)?, e164);
        let contact = self
            .conn
            .query_row(
                "SELECT e164, attributes, state, attempts, last_disposition
                 FROM contacts WHERE campaign_id = ?1 AND e164 = ?2",
                params![campaign.0, e164],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, u32>(3)?,
                        r.get::<_, Option<String>>(4)?,
                    ))
                },
            )
            .optional()?
            .map(|(e164, attributes, state, attempts, last)| {
                Ok::<_, StoreError>(ContactRecord {
                    e164,
                    attributes,
                    state,
                    attempts,
                    last_disposition: last.as_deref().map(parse_disposition).transpose()?,
                })
            })
            .transpose()?;
        let calls = self.calls_of(campaign, &pseudonym)?;
        let do_not_call = self.do_not_call(e164)?;
        Ok(PersonData {
            campaign,
            pseudonym,
            contact,
            calls,
            do_not_call,
        })
    }

    /// Erases everything stored about `e164` in `campaign`: the queue entry
    /// with the number, every call, answer and recording entry. The
    /// recording files are the caller's to delete; their paths are
    /// returned.
    ///
    /// A do-not-call entry stays: it holds only a keyed hash, and erasing
    /// it would put the resident back on the calling lists they asked to
    /// leave.
    pub fn person_erase(&mut self, campaign: CampaignId, e164: &str) -> Result<Erased, StoreError> {
        let e164 = check_e164(e164)?;
        let tx = write(&mut self.conn)?;
        let pseudonym = pseudonym(&campaign_secret(&tx, campaign)?, e164);
        let erased = privacy::erase_in(&tx, campaign, e164, &pseudonym)?;
        tx.commit()?;
        // The WAL still holds the pages as they were before the erase; copy
        // the new pages home and empty it, so the data is gone from disk.
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(erased)
    }

    fn calls_of(
        &self,
        campaign: CampaignId,
        who: &Pseudonym,
    ) -> Result<Vec<CallRecord>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, started_at, ended_at, disposition, sip_status, language
             FROM calls WHERE campaign_id = ?1 AND pseudonym = ?2 ORDER BY started_at, id",
        )?;
        let rows = stmt.query_map(params![campaign.0, who.as_str()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<u16>>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })?;
        let mut calls = Vec::new();
        for row in rows {
            let (id, started, ended, disposition, sip_status, language) = row?;
            let id = CallId::new(id);
            calls.push(CallRecord {
                answers: answers_for_call(&self.conn, &id)?,
                recordings: recordings_for_call(&self.conn, &id)?,
                id,
                started: from_millis(started),
                ended: ended.map(from_millis),
                disposition: disposition.as_deref().map(parse_disposition).transpose()?,
                sip_status,
                language,
            });
        }
        Ok(calls)
    }
}

/// Starts a write. IMMEDIATE takes the write lock up front: a deferred
/// transaction that reads first could not wait for another process's write
/// (SQLite fails the upgrade at once), IMMEDIATE waits up to the busy
/// timeout.
fn write(conn: &mut Connection) -> Result<Transaction<'_>, StoreError> {
    Ok(conn.transaction_with_behavior(TransactionBehavior::Immediate)?)
}

pub(crate) fn random_secret() -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_LEN];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    secret
}

fn campaign_secret(conn: &Connection, campaign: CampaignId) -> Result<Vec<u8>, StoreError> {
    let secret: Option<Option<Vec<u8>>> = conn
        .prepare_cached("SELECT secret FROM campaigns WHERE id = ?1")?
        .query_row([campaign.0], |r| r.get(0))
        .optional()?;
    match secret {
        None => Err(StoreError::UnknownCampaign(campaign)),
        Some(None) => Err(StoreError::Purged(campaign)),
        Some(Some(secret)) => Ok(secret),
    }
}

fn ensure_call(tx: &Transaction<'_>, call: &CallId) -> Result<(), StoreError> {
    let found = tx
        .prepare_cached("SELECT 1 FROM calls WHERE id = ?1")?
        .query_row([call.as_str()], |_| Ok(()))
        .optional()?;
    found.ok_or_else(|| StoreError::UnknownCall(call.clone()))
}

fn insert_dnc(
    tx: &Transaction<'_>,
    key: &[u8],
    e164: &str,
    reason: &str,
    at: SystemTime,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO do_not_call (number_hash, reason, at) VALUES (?1, ?2, ?3)
         ON CONFLICT (number_hash) DO NOTHING",
        params![keyed_hash(key, e164), reason, to_millis(at)],
    )?;
    Ok(())
}

fn answers_for_call(conn: &Connection, call: &CallId) -> Result<Vec<StoredAnswer>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT question, kind, value, duration_ms, answered_at
         FROM answers WHERE call_id = ?1 ORDER BY rowid",
    )?;
    let rows = stmt.query_map([call.as_str()], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<i64>>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    let mut answers = Vec::new();
    for row in rows {
        let (question, kind, value, duration, at) = row?;
        let duration = duration.map(|d| u64::try_from(d).unwrap_or(0));
        answers.push(StoredAnswer {
            question,
            value: decode_answer(&kind, value, duration)?,
            at: from_millis(at),
        });
    }
    Ok(answers)
}

fn recordings_for_call(
    conn: &Connection,
    call: &CallId,
) -> Result<Vec<RecordingEntry>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT question, path, duration_ms FROM recordings WHERE call_id = ?1 ORDER BY rowid",
    )?;
    let rows = stmt.query_map([call.as_str()], |r| {
        Ok(RecordingEntry {
            question: r.get(0)?,
            path: PathBuf::from(r.get::<_, String>(1)?),
            duration_ms: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn campaign_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Campaign> {
    Ok(Campaign {
        id: CampaignId(r.get(0)?),
        script_id: r.get(1)?,
        title: r.get(2)?,
        created: from_millis(r.get(3)?),
        retention_until: r.get::<_, Option<i64>>(4)?.map(from_millis),
        purged: r.get(5)?,
    })
}

fn parse_disposition(name: &str) -> Result<Disposition, StoreError> {
    Disposition::parse(name).ok_or_else(|| StoreError::Corrupt(format!("disposition {name:?}")))
}

/// SQLite integers are signed; lengths past i64::MAX do not occur, so clamp.
fn millis_to_sql(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}
