//! The store side of the dialer's run loop, for a synchronous driver: what
//! to write before a call is placed and after it ends, so that a re-run
//! resumes where the last one stopped and a crash (even SIGKILL) never lets
//! a contact be called more often than its retry policy allows.
//!
//! The rule that makes it so: the attempt is counted in the store
//! ([`Store::record_call_start`]) *before* [`dial_next`] hands the order
//! out, so a call can be placed only once it is counted.

use std::time::SystemTime;

use thiserror::Error;

use crate::dialer::{DialOrder, Dialer, DialerConfig, DialerError, DialerEvent, Followup};
use crate::error::StoreError;
use crate::exclusions::{ExclusionReason, Exclusions};
use crate::store::Store;
use crate::types::{CallId, CampaignId, Disposition};

/// Why a run step failed.
#[derive(Debug, Error)]
pub enum RunError {
    /// The store failed; stop the campaign and run it again once fixed (it
    /// resumes from the store).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The driver gave an outcome the dialer did not expect.
    #[error(transparent)]
    Dialer(#[from] DialerError),
}

/// A dialer holding the campaign's pending contacts from the store, with
/// their attempts and retry times: how a campaign resumes.
pub fn load_dialer(
    store: &Store,
    campaign: CampaignId,
    config: DialerConfig,
    exclusions: Exclusions,
) -> Result<Dialer, StoreError> {
    Ok(Dialer::restore(
        config,
        exclusions,
        store.pending_contacts(campaign)?,
    ))
}

/// The next call to place at `now`, already counted in the store, with the
/// id its answers go under; `None` if no call may start now. The number is
/// checked against the store's do-not-call list right before, since
/// another campaign may have added it since the import.
pub fn dial_next(
    store: &mut Store,
    campaign: CampaignId,
    dialer: &mut Dialer,
    now: SystemTime,
) -> Result<Option<(DialOrder, CallId)>, StoreError> {
    let order = dialer.poll_dial_with(now, |e164| -> Result<_, StoreError> {
        Ok(store.do_not_call(e164)?.map(|_| ExclusionReason::DoNotCall))
    });
    persist_events(store, campaign, dialer)?;
    let Some(order) = order? else {
        return Ok(None);
    };
    let call = store.record_call_start(campaign, &order.e164, now)?;
    Ok(Some((order, call)))
}

/// Stores the end of a call and what follows it (its retry time, or off
/// the queue), in one transaction.
#[allow(clippy::too_many_arguments)] // each is one fact of the call's end
pub fn finish(
    store: &mut Store,
    dialer: &mut Dialer,
    call: &CallId,
    e164: &str,
    disposition: Disposition,
    sip_status: Option<u16>,
    language: Option<&str>,
    now: SystemTime,
) -> Result<Followup, RunError> {
    match dialer.on_outcome(now, e164, disposition, sip_status) {
        Ok(followup) => {
            let next = match followup {
                Followup::RetryAt(at) => Some(at),
                Followup::Done | Followup::GaveUp => None,
            };
            store.finish_attempt(call, disposition, sip_status, language, now, next)?;
            Ok(followup)
        }
        Err(e) => {
            // The driver's mistake must not lose what the call said.
            store.finish_call(call, disposition, sip_status, language, now)?;
            Err(e.into())
        }
    }
}

/// Writes the dialer's pending events (dial-time exclusions, contacts
/// restored with no attempts left) to the store.
pub fn persist_events(
    store: &mut Store,
    campaign: CampaignId,
    dialer: &mut Dialer,
) -> Result<(), StoreError> {
    while let Some(event) = dialer.poll_event() {
        match event {
            DialerEvent::Excluded { e164, reason } => {
                store.exclude_contact(campaign, &e164, reason)?;
            }
            DialerEvent::Exhausted { e164 } => store.close_contact(campaign, &e164)?,
        }
    }
    Ok(())
}
