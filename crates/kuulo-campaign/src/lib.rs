//! Survey campaigns: who to call, and what they answered.
//!
//! This crate will grow the contact import, exclusions, pacing and retries
//! of a campaign; it starts with the [`Store`]: the SQLite results store
//! that every other part writes to.
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
//!   resident's right of access and erasure.
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

mod error;
mod migrate;
mod pseudonym;
mod store;
mod types;

pub use error::StoreError;
pub use pseudonym::{check_e164, pseudonym};
pub use store::Store;
pub use types::{
    CallId, CallRecord, Campaign, CampaignId, ContactRecord, Disposition, DoNotCall, Erased,
    NewCampaign, PersonData, Pseudonym, RecordingEntry, StoredAnswer,
};
