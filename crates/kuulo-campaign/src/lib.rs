//! Survey campaigns: who to call, and what they answered.
//!
//! A campaign's path through the crate:
//!
//! 1. [`contacts`]: a CSV list is parsed, numbers normalised to E.164
//!    ([`normalise_number`]), duplicates merged, bad rows rejected with
//!    line and reason;
//! 2. [`exclusions`]: minors, businesses, marketing bans and the
//!    do-not-call list are kept out, at import
//!    ([`exclusions::queue_contacts`]) and again at every dial;
//! 3. [`dialer`] and [`pacing`]: a sans-IO [`Dialer`] picks who to call
//!    when, at a paced rate within calling hours, and retries; [`run`]
//!    keeps it and the store in step so a campaign resumes after a crash;
//! 4. the [`Store`]: the SQLite results store every part writes to;
//! 5. [`report`]: the funnel, the answer distributions and the analysts'
//!    exports.
//!
//! Privacy is designed in, not bolted on:
//!
//! - Phone numbers live only in the contact queue. Calls, answers and
//!   recordings are keyed by a [`Pseudonym`], a keyed hash of the number
//!   under a secret of the campaign, so answers of different campaigns
//!   cannot be joined and exports carry no numbers.
//! - Opt-outs ("never call again") hold across campaigns, keyed by a
//!   store-wide keyed hash, never by the number.
//! - [`Store::person_export`] and [`Store::person_erase`] serve a
//!   resident's right of access and erasure in one campaign,
//!   [`Store::export_person`] and [`Store::erase_person`] in all of them
//!   (`kuulo person export|erase`).
//! - [`Store::purge`] deletes numbers and recordings past their retention
//!   date, and a finished campaign's pseudonym secret, keeping only what
//!   the report needs (`kuulo purge`).
//!
//! The crate uses `kuulo-ivr`'s answer types but no network crate.
//!
//! ```no_run
//! use std::time::SystemTime;
//! use kuulo_campaign::{Disposition, NewCampaign, Store};
//! use kuulo_ivr::AnswerValue;
//!
//! let mut store = Store::open("results.sqlite")?;
//! let now = SystemTime::now();
//! let campaign = store.create_campaign(&NewCampaign {
//!     script_id: "digital-services",
//!     title: "Oulu digital services 2021",
//!     created: now,
//!     retention_until: None,
//! })?;
//! let call = store.record_call_start(campaign, "+358401234567", now)?;
//! store.store_answer(&call, "used_digital", &AnswerValue::Yes, now)?;
//! store.finish_call(&call, Disposition::Completed, Some(200), Some("fi"), now)?;
//! # Ok::<(), kuulo_campaign::StoreError>(())
//! ```

#![warn(missing_docs)]

pub mod contacts;
pub mod dialer;
mod error;
pub mod exclusions;
mod migrate;
mod number;
pub mod pacing;
mod pseudonym;
pub mod report;
pub mod run;
mod store;
mod types;

pub use contacts::{parse_contacts, Contact, ContactKind, ContactList, ImportError};
pub use dialer::{
    DialOrder, Dialer, DialerConfig, DialerError, DialerEvent, DialerStats, Followup, RetryPolicy,
    Trunk,
};
pub use error::StoreError;
pub use exclusions::{ExclusionCounts, ExclusionPolicy, ExclusionReason, Exclusions};
pub use number::{normalise_number, NumberError};
pub use pacing::{CallingHours, TokenBucket, Window};
pub use pseudonym::{check_e164, pseudonym};
pub use report::{export_csv, export_json, render_html, Report, ReportError};
pub use store::{
    AnswerRow, BadDate, CampaignPurge, Cutoff, FileSweep, FunnelCounts, PersonErased, PersonExport,
    PurgeRequest, PurgeSummary, QueueEntry, QueuedContact, Store,
};
pub use types::{
    CallId, CallRecord, Campaign, CampaignId, ContactRecord, Disposition, DoNotCall, Erased,
    NewCampaign, PersonData, Pseudonym, RecordingEntry, StoredAnswer,
};
