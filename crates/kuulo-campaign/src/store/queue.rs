//! The store's side of the dialer: the contact queue's states and the
//! figures of the report. Kept apart from `store.rs` to keep both short;
//! every write is still one transaction.

use std::time::SystemTime;

use rusqlite::{params, OptionalExtension, Transaction};

use super::{campaign_secret, insert_dnc, write, Store};
use crate::error::StoreError;
use crate::exclusions::{ExclusionCounts, ExclusionReason};
use crate::pseudonym::{check_e164, pseudonym};
use crate::types::{from_millis, to_millis, CallId, CampaignId, Disposition};

/// One contact to put in the queue, see [`Store::queue_contacts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry<'a> {
    /// E.164 number.
    pub e164: &'a str,
    /// Import attributes as a JSON object.
    pub attributes: &'a str,
    /// Why it is not to be called, if it is not.
    pub exclusion: Option<ExclusionReason>,
}

/// A contact still to be called, read back to resume a campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedContact {
    /// E.164 number.
    pub e164: String,
    /// Import attributes as a JSON object.
    pub attributes: String,
    /// Dial attempts so far, counting one that was under way at a crash.
    pub attempts: u32,
    /// Not before this; `None` means as soon as the pacing allows.
    pub next_attempt_at: Option<SystemTime>,
    /// The last call's disposition.
    pub last_disposition: Option<Disposition>,
}

/// The funnel's figures as stored, see [`Store::funnel`].
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FunnelCounts {
    /// Contacts in the queue, excluded ones included.
    pub contacts: u64,
    /// Excluded contacts per reason.
    pub excluded: ExclusionCounts,
    /// Residents called at least once.
    pub attempted: u64,
    /// Residents who answered at least one call.
    pub reached: u64,
    /// Residents who gave consent (completed or partial).
    pub consented: u64,
    /// Residents who completed the survey.
    pub completed: u64,
    /// Residents who opted out.
    pub opted_out: u64,
    /// Residents who declined consent.
    pub declined: u64,
}

/// One stored answer with its call's context, for exports. Holds no
/// phone number, only the campaign's pseudonym.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AnswerRow {
    /// The resident's pseudonym in this campaign.
    pub pseudonym: String,
    /// The call's random id.
    pub call_id: String,
    /// The question step's id.
    pub question: String,
    /// The answer as text.
    pub value: String,
    /// Unix milliseconds.
    pub answered_at: i64,
    /// The call's language.
    pub language: Option<String>,
    /// The call's disposition.
    pub disposition: Option<String>,
}

impl Store {
    /// Milliseconds of every ended call of `campaign` from its attempt's
    /// start (ringing included) to its end: the denominator of a
    /// benchmark's CPU per call-minute.
    pub fn call_millis(&self, campaign: CampaignId) -> Result<i64, StoreError> {
        Ok(self.conn.query_row(
            "SELECT COALESCE(SUM(ended_at - started_at), 0) FROM calls
             WHERE campaign_id = ?1 AND ended_at IS NOT NULL",
            params![campaign.0],
            |r| r.get(0),
        )?)
    }

    /// Puts contacts in the queue in one transaction, excluded ones with
    /// their reason (so the report can count them). Numbers already queued
    /// stay as they are. Returns how many were new.
    pub fn queue_contacts(
        &mut self,
        campaign: CampaignId,
        entries: &[QueueEntry<'_>],
    ) -> Result<u64, StoreError> {
        let tx = write(&mut self.conn)?;
        let secret = campaign_secret(&tx, campaign)?;
        let mut added = 0;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO contacts (campaign_id, e164, pseudonym, attributes, state, exclusion_reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (campaign_id, e164) DO NOTHING",
            )?;
            for entry in entries {
                let e164 = check_e164(entry.e164)?;
                let state = if entry.exclusion.is_some() {
                    "excluded"
                } else {
                    "pending"
                };
                added += stmt.execute(params![
                    campaign.0,
                    e164,
                    pseudonym(&secret, e164).as_str(),
                    entry.attributes,
                    state,
                    entry.exclusion.map(ExclusionReason::as_str),
                ])? as u64;
            }
        }
        tx.commit()?;
        Ok(added)
    }

    /// Takes a queued contact off the queue for `reason` (a dial-time
    /// exclusion). Contacts already done stay done.
    pub fn exclude_contact(
        &mut self,
        campaign: CampaignId,
        e164: &str,
        reason: ExclusionReason,
    ) -> Result<(), StoreError> {
        let tx = write(&mut self.conn)?;
        tx.execute(
            "UPDATE contacts SET state = 'excluded', exclusion_reason = ?3
             WHERE campaign_id = ?1 AND e164 = ?2 AND state != 'done'",
            params![campaign.0, e164, reason.as_str()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Contacts still to be called, in queue order. A contact left
    /// `in_progress` by a crash comes back with that attempt counted.
    pub fn pending_contacts(&self, campaign: CampaignId) -> Result<Vec<QueuedContact>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT e164, attributes, attempts, next_attempt_at, last_disposition
             FROM contacts WHERE campaign_id = ?1 AND state IN ('pending', 'in_progress')
             ORDER BY id",
        )?;
        let rows = stmt.query_map([campaign.0], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, u32>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (e164, attributes, attempts, next, last) = row?;
            let last_disposition = match last {
                None => None,
                Some(name) => Some(
                    Disposition::parse(&name)
                        .ok_or_else(|| StoreError::Corrupt(format!("disposition {name:?}")))?,
                ),
            };
            out.push(QueuedContact {
                e164,
                attributes,
                attempts,
                next_attempt_at: next.map(from_millis),
                last_disposition,
            });
        }
        Ok(out)
    }

    /// [`finish_call`](Store::finish_call) and what follows for the
    /// contact, in one transaction: a retry not before `next_attempt`, or,
    /// if `None`, off the queue for good. A crash can thus never store a
    /// call's end without its retry time (which would redial at once).
    #[allow(clippy::too_many_arguments)] // each is one fact of the call's end
    pub fn finish_attempt(
        &mut self,
        call: &CallId,
        disposition: Disposition,
        sip_status: Option<u16>,
        language: Option<&str>,
        at: SystemTime,
        next_attempt: Option<SystemTime>,
    ) -> Result<(), StoreError> {
        let tx = write(&mut self.conn)?;
        let (campaign, pseudonym) = finish_call_in(
            &tx,
            &self.dnc_key,
            call,
            disposition,
            sip_status,
            language,
            at,
        )?;
        let (state, next) = match next_attempt {
            Some(t) => ("pending", Some(to_millis(t))),
            None => ("done", None),
        };
        tx.execute(
            "UPDATE contacts SET state = ?3, next_attempt_at = ?4
             WHERE campaign_id = ?1 AND pseudonym = ?2 AND state IN ('pending', 'in_progress')",
            params![campaign, pseudonym, state, next],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Schedules the next attempt of a contact at `at`.
    pub fn schedule_retry(
        &mut self,
        campaign: CampaignId,
        e164: &str,
        at: SystemTime,
    ) -> Result<(), StoreError> {
        let tx = write(&mut self.conn)?;
        tx.execute(
            "UPDATE contacts SET state = 'pending', next_attempt_at = ?3
             WHERE campaign_id = ?1 AND e164 = ?2 AND state IN ('pending', 'in_progress')",
            params![campaign.0, e164, to_millis(at)],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Takes a contact off the queue for good: its retries are used up.
    pub fn close_contact(&mut self, campaign: CampaignId, e164: &str) -> Result<(), StoreError> {
        let tx = write(&mut self.conn)?;
        tx.execute(
            "UPDATE contacts SET state = 'done', next_attempt_at = NULL
             WHERE campaign_id = ?1 AND e164 = ?2 AND state != 'excluded'",
            params![campaign.0, e164],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The funnel of a campaign. Residents are counted by pseudonym, so
    /// inbound callers count too and a resident called three times counts
    /// once; each resident counts at the furthest stage any call reached.
    pub fn funnel(&self, campaign: CampaignId) -> Result<FunnelCounts, StoreError> {
        let mut f = FunnelCounts {
            // Purged entries still count: only their numbers are gone.
            contacts: self.conn.query_row(
                "SELECT (SELECT count(*) FROM contacts WHERE campaign_id = ?1)
                      + (SELECT coalesce(sum(count), 0) FROM purged_contacts WHERE campaign_id = ?1)",
                [campaign.0],
                |r| r.get(0),
            )?,
            ..FunnelCounts::default()
        };
        {
            let mut stmt = self.conn.prepare_cached(
                "SELECT exclusion_reason, count(*) FROM contacts
                 WHERE campaign_id = ?1 AND state = 'excluded' GROUP BY exclusion_reason
                 UNION ALL
                 SELECT exclusion_reason, count FROM purged_contacts
                 WHERE campaign_id = ?1 AND state = 'excluded'",
            )?;
            let rows = stmt.query_map([campaign.0], |r| {
                Ok((r.get::<_, Option<String>>(0)?, r.get::<_, u64>(1)?))
            })?;
            for row in rows {
                let (name, n) = row?;
                let reason = name
                    .as_deref()
                    .and_then(ExclusionReason::parse)
                    .ok_or_else(|| StoreError::Corrupt(format!("exclusion reason {name:?}")))?;
                *f.excluded.0.entry(reason).or_default() += n;
            }
        }
        let count = |dispositions: &[Disposition]| -> Result<u64, StoreError> {
            let list = dispositions
                .iter()
                .map(|d| format!("'{}'", d.as_str()))
                .collect::<Vec<_>>()
                .join(",");
            let filter = if dispositions.is_empty() {
                String::new()
            } else {
                format!("AND disposition IN ({list})")
            };
            Ok(self.conn.query_row(
                &format!(
                    "SELECT count(DISTINCT pseudonym) FROM calls WHERE campaign_id = ?1 {filter}"
                ),
                [campaign.0],
                |r| r.get(0),
            )?)
        };
        use Disposition as D;
        f.attempted = count(&[])?;
        f.reached = count(&[
            D::Completed,
            D::Partial,
            D::DeclinedConsent,
            D::OptedOut,
            D::Abandoned,
        ])?;
        f.consented = count(&[D::Completed, D::Partial])?;
        f.completed = count(&[D::Completed])?;
        f.opted_out = count(&[D::OptedOut])?;
        f.declined = count(&[D::DeclinedConsent])?;
        Ok(f)
    }

    /// Every answer of a campaign with its pseudonym and call, in the
    /// order given: the rows of the analysts' export.
    pub fn answer_rows(&self, campaign: CampaignId) -> Result<Vec<AnswerRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT c.pseudonym, c.id, a.question, a.value, a.answered_at, c.language, c.disposition
             FROM answers a JOIN calls c ON c.id = a.call_id
             WHERE c.campaign_id = ?1 ORDER BY c.started_at, c.id, a.rowid",
        )?;
        let rows = stmt.query_map([campaign.0], |r| {
            Ok(AnswerRow {
                pseudonym: r.get(0)?,
                call_id: r.get(1)?,
                question: r.get(2)?,
                value: r.get(3)?,
                answered_at: r.get(4)?,
                language: r.get(5)?,
                disposition: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// The body of [`Store::finish_call`] inside `tx`, shared with the
/// dialer's `finish_attempt`. Returns the call's campaign and pseudonym.
pub(super) fn finish_call_in(
    tx: &Transaction<'_>,
    dnc_key: &[u8],
    call: &CallId,
    disposition: Disposition,
    sip_status: Option<u16>,
    language: Option<&str>,
    at: SystemTime,
) -> Result<(i64, String), StoreError> {
    let (campaign, pseudonym): (i64, String) = tx
        .query_row(
            "SELECT campaign_id, pseudonym FROM calls WHERE id = ?1",
            [call.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .ok_or_else(|| StoreError::UnknownCall(call.clone()))?;
    tx.execute(
        "UPDATE calls SET ended_at = ?2, disposition = ?3, sip_status = ?4, language = ?5
         WHERE id = ?1",
        params![
            call.as_str(),
            to_millis(at),
            disposition.as_str(),
            sip_status,
            language
        ],
    )?;
    let state = if disposition.is_final() {
        "done"
    } else {
        "pending"
    };
    tx.execute(
        "UPDATE contacts SET last_disposition = ?3, state = ?4
         WHERE campaign_id = ?1 AND pseudonym = ?2",
        params![campaign, pseudonym, disposition.as_str(), state],
    )?;
    if disposition == Disposition::OptedOut {
        let number: Option<String> = tx
            .query_row(
                "SELECT e164 FROM contacts WHERE campaign_id = ?1 AND pseudonym = ?2",
                params![campaign, pseudonym],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(number) = number {
            let reason = format!("opted out in campaign {campaign}");
            insert_dnc(tx, dnc_key, &number, &reason, at)?;
        }
    }
    Ok((campaign, pseudonym))
}
