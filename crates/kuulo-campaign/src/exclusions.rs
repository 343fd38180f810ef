//! Who must never be called: minors, businesses, marketing bans, the
//! do-not-call list. Checked at import and again right before each dial,
//! because a resident can turn 18, opt out in another campaign, or land on
//! a ban list while a campaign runs.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::io::Read;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::contacts::{Contact, ContactKind};
use crate::error::StoreError;
use crate::number::normalise_number;
use crate::store::{QueueEntry, Store};
use crate::types::CampaignId;

/// Why a contact is not called. When several apply, the first in this
/// order is counted, so each contact counts once: the do-not-call list and
/// bans first (the resident's own wish), then the list's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExclusionReason {
    /// The number could not be normalised to E.164.
    InvalidNumber,
    /// On the persistent do-not-call list (opted out in any campaign).
    DoNotCall,
    /// The row's marketing-ban flag is set.
    MarketingBan,
    /// The number is on an imported ban list.
    BanList,
    /// A business number; campaigns call residents.
    Business,
    /// Under 18 on the day of the call.
    Minor,
    /// Neither birth date nor age known, and the policy excludes those.
    AgeUnknown,
}

impl ExclusionReason {
    /// Every reason, in counting order.
    pub const ALL: [ExclusionReason; 7] = [
        ExclusionReason::InvalidNumber,
        ExclusionReason::DoNotCall,
        ExclusionReason::MarketingBan,
        ExclusionReason::BanList,
        ExclusionReason::Business,
        ExclusionReason::Minor,
        ExclusionReason::AgeUnknown,
    ];

    /// The stored name, such as `marketing_ban`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExclusionReason::InvalidNumber => "invalid_number",
            ExclusionReason::DoNotCall => "do_not_call",
            ExclusionReason::MarketingBan => "marketing_ban",
            ExclusionReason::BanList => "ban_list",
            ExclusionReason::Business => "business",
            ExclusionReason::Minor => "minor",
            ExclusionReason::AgeUnknown => "age_unknown",
        }
    }

    /// The reason stored as `name`.
    pub fn parse(name: &str) -> Option<ExclusionReason> {
        ExclusionReason::ALL
            .into_iter()
            .find(|r| r.as_str() == name)
    }
}

impl fmt::Display for ExclusionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rules of a campaign's target group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExclusionPolicy {
    /// Youngest age called, on the day of the call.
    pub min_age: u32,
    /// Whether rows with neither birth date nor age are called.
    ///
    /// Default `false`: the campaign must never call a minor, and a
    /// register extract without an age is a data problem to fix, not a
    /// risk to take. Set it for lists known to hold adults only.
    pub call_unknown_age: bool,
    /// Whether business numbers are called (a survey of local
    /// entrepreneurs). Default `false`.
    pub call_businesses: bool,
}

impl Default for ExclusionPolicy {
    fn default() -> Self {
        ExclusionPolicy {
            min_age: 18,
            call_unknown_age: false,
            call_businesses: false,
        }
    }
}

/// The policy plus the number lists it is checked against.
#[derive(Debug, Clone, Default)]
pub struct Exclusions {
    /// The target group's rules.
    pub policy: ExclusionPolicy,
    ban_list: HashSet<String>,
    do_not_call: HashSet<String>,
}

impl Exclusions {
    /// Exclusions with `policy` and empty lists.
    pub fn new(policy: ExclusionPolicy) -> Exclusions {
        Exclusions {
            policy,
            ..Exclusions::default()
        }
    }

    /// Adds E.164 numbers of an imported marketing-ban list.
    pub fn add_ban_list(&mut self, numbers: impl IntoIterator<Item = String>) {
        self.ban_list.extend(numbers);
    }

    /// Adds a number found on the do-not-call list (the store keeps only
    /// keyed hashes, so the caller checks each queued number there and
    /// passes the hits in).
    pub fn add_do_not_call(&mut self, e164: impl Into<String>) {
        self.do_not_call.insert(e164.into());
    }

    /// Why `contact` must not be called on `today` (the residents' local
    /// date), or `None` if it may be.
    pub fn check(&self, contact: &Contact, today: NaiveDate) -> Option<ExclusionReason> {
        if self.do_not_call.contains(&contact.e164) {
            return Some(ExclusionReason::DoNotCall);
        }
        if contact.marketing_ban {
            return Some(ExclusionReason::MarketingBan);
        }
        if self.ban_list.contains(&contact.e164) {
            return Some(ExclusionReason::BanList);
        }
        if contact.kind == ContactKind::Business && !self.policy.call_businesses {
            return Some(ExclusionReason::Business);
        }
        // A birth date gives the age on the call day. When merged rows give
        // both a birth date and an age, the younger counts. A birth date
        // after today is bad data, taken as age 0. chrono's years_since
        // compares month and day, so someone born on 29 February comes of
        // age on 1 March in other years: the later, safer date.
        let from_birth = contact
            .birth_date
            .map(|born| today.years_since(born).unwrap_or(0));
        let age = [from_birth, contact.age.map(u32::from)]
            .into_iter()
            .flatten()
            .min();
        match age {
            Some(age) if age < self.policy.min_age => Some(ExclusionReason::Minor),
            None if !self.policy.call_unknown_age => Some(ExclusionReason::AgeUnknown),
            _ => None,
        }
    }
}

/// Exclusions counted per reason, for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExclusionCounts(pub BTreeMap<ExclusionReason, u64>);

impl ExclusionCounts {
    /// Counts one more exclusion for `reason`.
    pub fn add(&mut self, reason: ExclusionReason) {
        *self.0.entry(reason).or_default() += 1;
    }

    /// The count for `reason`.
    pub fn get(&self, reason: ExclusionReason) -> u64 {
        self.0.get(&reason).copied().unwrap_or(0)
    }

    /// All exclusions.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

/// Why a ban list could not be read.
#[derive(Debug, Error)]
pub enum BanListError {
    /// Reading failed.
    #[error("cannot read the ban list: {0}; check the file exists and is readable")]
    Io(#[from] std::io::Error),
    /// A line held no valid number.
    #[error("ban list line {line}: {number:?}: {reason}; fix or remove the line (a ban that cannot be read must not be skipped)")]
    BadNumber {
        /// 1-based line number.
        line: usize,
        /// The text.
        number: String,
        /// Why.
        reason: crate::number::NumberError,
    },
}

/// Reads a ban list: one number per line, in any form [`normalise_number`]
/// takes; blank lines and lines starting with `#` are skipped, and an
/// optional header line without digits is allowed. A line that is not a
/// number fails the whole list, because skipping a ban could call someone
/// who asked not to be.
pub fn read_ban_list(mut reader: impl Read) -> Result<Vec<String>, BanListError> {
    let mut text = String::new();
    reader.read_to_string(&mut text)?;
    let mut numbers = Vec::new();
    for (i, line) in text.lines().enumerate() {
        // A spreadsheet export may put the number in the first column.
        let cell = line.split([',', ';', '\t']).next().unwrap_or("").trim();
        let cell = cell.trim_start_matches('\u{feff}').trim_matches('"');
        let header = i == 0 && !cell.bytes().any(|b| b.is_ascii_digit());
        if cell.is_empty() || cell.starts_with('#') || header {
            continue;
        }
        let e164 = normalise_number(cell).map_err(|reason| BanListError::BadNumber {
            line: i + 1,
            number: cell.to_owned(),
            reason,
        })?;
        numbers.push(e164);
    }
    Ok(numbers)
}

/// What [`queue_contacts`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueSummary {
    /// Contacts put in the queue to be called.
    pub queued: u64,
    /// Contacts stored as excluded, per reason.
    pub excluded: ExclusionCounts,
    /// Contacts already in this campaign's queue (an import run twice).
    pub already_queued: u64,
}

/// Puts an imported list in the campaign's queue, checking each contact
/// against `exclusions` and the store's do-not-call list on `today`.
/// Excluded contacts are stored as such, so the report counts them.
pub fn queue_contacts(
    store: &mut Store,
    campaign: CampaignId,
    contacts: &[Contact],
    exclusions: &Exclusions,
    today: NaiveDate,
) -> Result<QueueSummary, StoreError> {
    let mut summary = QueueSummary::default();
    let mut attributes = Vec::with_capacity(contacts.len());
    let mut reasons = Vec::with_capacity(contacts.len());
    for c in contacts {
        let reason = if store.do_not_call(&c.e164)?.is_some() {
            Some(ExclusionReason::DoNotCall)
        } else {
            exclusions.check(c, today)
        };
        attributes.push(c.attributes_json());
        reasons.push(reason);
    }
    let entries: Vec<QueueEntry<'_>> = contacts
        .iter()
        .zip(&attributes)
        .zip(&reasons)
        .map(|((c, a), r)| QueueEntry {
            e164: &c.e164,
            attributes: a,
            exclusion: *r,
        })
        .collect();
    let added = store.queue_contacts(campaign, &entries)?;
    summary.already_queued = contacts.len() as u64 - added;
    // Counted from what was asked, so a re-import reports the same split.
    for r in &reasons {
        match r {
            Some(r) => summary.excluded.add(*r),
            None => summary.queued += 1,
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adult(e164: &str) -> Contact {
        Contact {
            e164: e164.into(),
            age: Some(40),
            ..Contact::default()
        }
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn reasons_in_order() {
        let mut ex = Exclusions::default();
        let today = day(2026, 11, 23);
        let c = adult("+358401234567");
        assert_eq!(ex.check(&c, today), None);
        ex.add_ban_list(["+358401234567".to_string()]);
        assert_eq!(ex.check(&c, today), Some(ExclusionReason::BanList));
        let banned = Contact {
            marketing_ban: true,
            ..c.clone()
        };
        assert_eq!(
            ex.check(&banned, today),
            Some(ExclusionReason::MarketingBan)
        );
        ex.add_do_not_call("+358401234567");
        assert_eq!(ex.check(&banned, today), Some(ExclusionReason::DoNotCall));
        let biz = Contact {
            kind: ContactKind::Business,
            ..adult("+358501111111")
        };
        assert_eq!(ex.check(&biz, today), Some(ExclusionReason::Business));
    }

    #[test]
    fn age_on_the_call_day() {
        let ex = Exclusions::default();
        let born = Contact {
            birth_date: Some(day(2008, 11, 24)),
            ..Contact::default()
        };
        assert_eq!(
            ex.check(&born, day(2026, 11, 23)),
            Some(ExclusionReason::Minor)
        );
        assert_eq!(ex.check(&born, day(2026, 11, 24)), None);
        let leap = Contact {
            birth_date: Some(day(2008, 2, 29)),
            ..Contact::default()
        };
        assert_eq!(
            ex.check(&leap, day(2026, 2, 28)),
            Some(ExclusionReason::Minor)
        );
        assert_eq!(ex.check(&leap, day(2026, 3, 1)), None);
        let future = Contact {
            birth_date: Some(day(2030, 1, 1)),
            ..Contact::default()
        };
        assert_eq!(
            ex.check(&future, day(2026, 1, 1)),
            Some(ExclusionReason::Minor)
        );
        let young = Contact {
            age: Some(17),
            ..Contact::default()
        };
        assert_eq!(
            ex.check(&young, day(2026, 1, 1)),
            Some(ExclusionReason::Minor)
        );
        let unknown = Contact::default();
        assert_eq!(
            ex.check(&unknown, day(2026, 1, 1)),
            Some(ExclusionReason::AgeUnknown)
        );
        let lenient = Exclusions::new(ExclusionPolicy {
            call_unknown_age: true,
            ..ExclusionPolicy::default()
        });
        assert_eq!(lenient.check(&unknown, day(2026, 1, 1)), None);
    }

    #[test]
    fn ban_list_file() {
        let text = "\u{feff}numero\n040 123 4567\n\n# comment\n+358 50 555 1234;x\n";
        assert_eq!(
            read_ban_list(text.as_bytes()).unwrap(),
            ["+358401234567", "+358505551234"]
        );
        let err = read_ban_list("040 123 4567\nnot a number\n".as_bytes()).unwrap_err();
        assert!(
            matches!(err, BanListError::BadNumber { line: 2, .. }),
            "{err}"
        );
    }
}
