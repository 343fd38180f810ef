//! The values the store takes and gives back.

use std::fmt;
use std::path::PathBuf;
use std::time::SystemTime;

use kuulo_ivr::AnswerValue;

use crate::error::StoreError;

/// A campaign's row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CampaignId(pub i64);

impl fmt::Display for CampaignId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A call's pseudonymous id: 128 random bits in hex. Recording files are
/// named by it, so a file name never reveals who spoke.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallId(String);

impl CallId {
    /// A fresh random id.
    pub fn random() -> CallId {
        CallId(crate::pseudonym::hex(&rand::random::<[u8; 16]>()))
    }

    /// Wraps an id read back from the store or a file name.
    pub fn new(id: impl Into<String>) -> CallId {
        CallId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A per-campaign pseudonym of a resident: HMAC-SHA256 of their E.164
/// number under the campaign's secret, in hex.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pseudonym(pub(crate) String);

impl Pseudonym {
    /// The pseudonym as 64 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a call attempt ended: the interpreter's outcomes for answered calls,
/// and the network's for the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Disposition {
    /// Consent given and the end reached.
    Completed,
    /// Consent given, the call ended early; answers so far count.
    Partial,
    /// The resident declined (or never answered) the consent question.
    DeclinedConsent,
    /// The resident asked never to be called again.
    OptedOut,
    /// Answered, but hung up before the consent question was answered.
    Abandoned,
    /// The line was busy (SIP 486/600).
    Busy,
    /// Nobody answered in time (SIP 480/408 or our ring timeout).
    NoAnswer,
    /// Any other failure; the SIP status says which.
    Failed,
}

impl Disposition {
    /// Every disposition, for reports.
    pub const ALL: [Disposition; 8] = [
        Disposition::Completed,
        Disposition::Partial,
        Disposition::DeclinedConsent,
        Disposition::OptedOut,
        Disposition::Abandoned,
        Disposition::Busy,
        Disposition::NoAnswer,
        Disposition::Failed,
    ];

    /// The stored name, such as `declined_consent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Completed => "completed",
            Disposition::Partial => "partial",
            Disposition::DeclinedConsent => "declined_consent",
            Disposition::OptedOut => "opted_out",
            Disposition::Abandoned => "abandoned",
            Disposition::Busy => "busy",
            Disposition::NoAnswer => "no_answer",
            Disposition::Failed => "failed",
        }
    }

    /// The disposition stored as `name`.
    pub fn parse(name: &str) -> Option<Disposition> {
        Disposition::ALL.into_iter().find(|d| d.as_str() == name)
    }

    /// True if the resident must not be called again in this campaign: they
    /// answered the survey, declined it, or opted out.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Disposition::Completed
                | Disposition::Partial
                | Disposition::DeclinedConsent
                | Disposition::OptedOut
        )
    }
}

impl From<kuulo_ivr::Disposition> for Disposition {
    fn from(d: kuulo_ivr::Disposition) -> Self {
        match d {
            kuulo_ivr::Disposition::Completed => Disposition::Completed,
            kuulo_ivr::Disposition::Partial => Disposition::Partial,
            kuulo_ivr::Disposition::DeclinedConsent => Disposition::DeclinedConsent,
            kuulo_ivr::Disposition::OptedOut => Disposition::OptedOut,
            kuulo_ivr::Disposition::Abandoned => Disposition::Abandoned,
        }
    }
}

impl fmt::Display for Disposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A new campaign.
#[derive(Debug, Clone)]
pub struct NewCampaign<'a> {
    /// The survey script's `id`.
    pub script_id: &'a str,
    /// A title for reports.
    pub title: &'a str,
    /// When it was created.
    pub created: SystemTime,
    /// After this, numbers and recordings are purged.
    pub retention_until: Option<SystemTime>,
}

/// A campaign as stored (without its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Campaign {
    /// Row id.
    pub id: CampaignId,
    /// The survey script's `id`.
    pub script_id: String,
    /// Title for reports.
    pub title: String,
    /// Creation time.
    pub created: SystemTime,
    /// Purge date, if any.
    pub retention_until: Option<SystemTime>,
    /// Its pseudonym secret was purged ([`Store::purge`](crate::Store::purge)):
    /// its answers are anonymous, and no new call can be stored in it, so
    /// a run of the same survey needs a new campaign.
    pub purged: bool,
}

/// One answer read back from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    /// The question step's id.
    pub question: String,
    /// The answer.
    pub value: AnswerValue,
    /// When it was given.
    pub at: SystemTime,
}

/// A recording's entry; the audio itself is a file the driver wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingEntry {
    /// The record step's id.
    pub question: String,
    /// Path relative to the campaign's recordings folder.
    pub path: PathBuf,
    /// Length in milliseconds.
    pub duration_ms: u64,
}

/// One call attempt with everything said in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// Pseudonymous call id.
    pub id: CallId,
    /// When the call started.
    pub started: SystemTime,
    /// When it ended; `None` if it never finished (a crash mid-call).
    pub ended: Option<SystemTime>,
    /// How it ended.
    pub disposition: Option<Disposition>,
    /// Final SIP status of the INVITE, if any.
    pub sip_status: Option<u16>,
    /// Language the call ended in.
    pub language: Option<String>,
    /// Answers in the order given.
    pub answers: Vec<StoredAnswer>,
    /// Recordings.
    pub recordings: Vec<RecordingEntry>,
}

/// A resident's place in the calling queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRecord {
    /// E.164 number.
    pub e164: String,
    /// Import attributes as a JSON object.
    pub attributes: String,
    /// `pending`, `in_progress`, `done` or `excluded`.
    pub state: String,
    /// Dial attempts so far.
    pub attempts: u32,
    /// Last call's disposition.
    pub last_disposition: Option<Disposition>,
}

/// An entry in the do-not-call list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoNotCall {
    /// Why, such as `opted out in campaign 3`.
    pub reason: String,
    /// Since when.
    pub at: SystemTime,
}

/// Everything the store holds about one resident in one campaign: what
/// `kuulo person export` shows them (their right of access).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonData {
    /// The campaign.
    pub campaign: CampaignId,
    /// Their pseudonym in it.
    pub pseudonym: Pseudonym,
    /// Their queue entry, until purged.
    pub contact: Option<ContactRecord>,
    /// Every call attempt.
    pub calls: Vec<CallRecord>,
    /// Their do-not-call entry, which holds across campaigns.
    pub do_not_call: Option<DoNotCall>,
}

/// What [`Store::person_erase`](crate::Store::person_erase) removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Erased {
    /// Whether a queue entry (with the number) was removed.
    pub contact: bool,
    /// Calls removed.
    pub calls: usize,
    /// Answers removed.
    pub answers: usize,
    /// Recording files the caller must now delete, relative to the
    /// campaign's recordings folder (the store does not own the files).
    pub recording_files: Vec<PathBuf>,
}

/// Stored form of an answer: kind, text, and a recording's length.
pub(crate) fn encode_answer(value: &AnswerValue) -> (&'static str, String, Option<u64>) {
    let kind = match value {
        AnswerValue::Yes => "yes",
        AnswerValue::No => "no",
        AnswerValue::Choice(_) => "choice",
        AnswerValue::Scale(_) => "scale",
        AnswerValue::Number(_) => "number",
        AnswerValue::Recording { .. } => "recording",
        AnswerValue::NoAnswer => "no_answer",
    };
    let duration = match value {
        AnswerValue::Recording { duration_ms } => Some(*duration_ms),
        _ => None,
    };
    (kind, value.as_text().into_owned(), duration)
}

/// Inverse of [`encode_answer`].
pub(crate) fn decode_answer(
    kind: &str,
    value: String,
    duration_ms: Option<u64>,
) -> Result<AnswerValue, StoreError> {
    let corrupt = || StoreError::Corrupt(format!("answer of kind {kind:?} with value {value:?}"));
    Ok(match kind {
        "yes" => AnswerValue::Yes,
        "no" => AnswerValue::No,
        "choice" => AnswerValue::Choice(value),
        "scale" => AnswerValue::Scale(value.parse().map_err(|_| corrupt())?),
        "number" => AnswerValue::Number(value),
        "recording" => AnswerValue::Recording {
            duration_ms: duration_ms.ok_or_else(corrupt)?,
        },
        "no_answer" => AnswerValue::NoAnswer,
        _ => return Err(corrupt()),
    })
}

/// Unix milliseconds; times before 1970 clamp to 0.
pub(crate) fn to_millis(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Inverse of [`to_millis`].
pub(crate) fn from_millis(ms: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}
