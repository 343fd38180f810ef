//! The campaign dialler as an [`EngineApp`]: the kuulo-campaign `Dialer`
//! decides who to call and when, the engine places and runs the calls.
//!
//! Each attempt is recorded in the store by `run::dial_next` *before* the
//! INVITE leaves (so a crash never lets a contact be called more often than
//! its retry policy allows); the engine adopts that call id for the
//! answers, and the call's end is written here with its retry time, in one
//! transaction, by `run::finish`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant, SystemTime};

use kuulo_campaign::run::{dial_next, finish};
use kuulo_campaign::{CallId, CampaignId, Dialer, Disposition, Store};
use kuulo_sip::message::Uri;
use kuulo_sip::transport::Peer;
use kuulo_sip::ua::{CallHandle, EndReason};

use super::driver::EngineApp;
use super::{EngineEvent, SurveyEngine};

/// A call placed for the campaign.
#[derive(Debug)]
struct Placed {
    store_call: CallId,
    e164: String,
    since: Instant,
}

/// Drives a [`Dialer`] through a [`SurveyEngine`].
#[derive(Debug)]
pub struct CampaignDialler {
    store: Store,
    campaign: CampaignId,
    dialer: Dialer,
    /// Where each of the dialer's trunks is, and its Request-URI host.
    trunks: Vec<(Peer, String)>,
    ring_timeout: Duration,
    calls: HashMap<CallHandle, Placed>,
    /// When each placed call's ring timeout falls due, earliest first: a
    /// wake-up looks only at the calls whose time has come, never at all
    /// of them (thousands of calls, a wake-up per packet).
    ring_deadlines: BinaryHeap<Reverse<(Instant, CallHandle)>>,
    errors: u64,
    /// Set by [`stop_dialling`](Self::stop_dialling): no new calls.
    draining: bool,
}

impl CampaignDialler {
    /// Calls go to `trunk` as `sip:<E.164>@<trunk_host>`; calls still
    /// ringing after `ring_timeout` are cancelled (no answer). `store` is
    /// the dialler's own connection to the results database.
    pub fn new(
        store: Store,
        campaign: CampaignId,
        dialer: Dialer,
        trunk: Peer,
        trunk_host: impl Into<String>,
        ring_timeout: Duration,
    ) -> CampaignDialler {
        CampaignDialler {
            store,
            campaign,
            dialer,
            trunks: vec![(trunk, trunk_host.into())],
            ring_timeout,
            calls: HashMap::new(),
            ring_deadlines: BinaryHeap::new(),
            errors: 0,
            draining: false,
        }
    }

    /// Adds the address of the dialer's next trunk (`DialerConfig::trunks`
    /// in the same order; the first is the one given to `new`).
    pub fn add_trunk(&mut self, trunk: Peer, trunk_host: impl Into<String>) {
        self.trunks.push((trunk, trunk_host.into()));
    }

    /// Every contact reached a final state and no call is under way.
    pub fn is_finished(&self) -> bool {
        self.calls.is_empty() && self.dialer.is_finished()
    }

    /// Places no new call; calls under way run to their end, after which
    /// the run is done (the first Ctrl-C of `kuulo campaign run`). The
    /// contacts not yet called stay in the store's queue for the next run.
    pub fn stop_dialling(&mut self) {
        self.draining = true;
    }

    /// Whether [`stop_dialling`](Self::stop_dialling) was called.
    pub fn is_draining(&self) -> bool {
        self.draining
    }

    /// When a call still under way was placed.
    pub fn placed_at(&self, call: CallHandle) -> Option<Instant> {
        self.calls.get(&call).map(|p| p.since)
    }

    /// Calls placed and not yet ended.
    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// The dialler, for its figures.
    pub fn dialer(&self) -> &Dialer {
        &self.dialer
    }

    /// Store writes that failed (each is logged).
    pub fn errors(&self) -> u64 {
        self.errors
    }

    fn end(
        &mut self,
        call: CallHandle,
        disposition: Disposition,
        sip_status: Option<u16>,
        language: Option<&str>,
    ) {
        let Some(p) = self.calls.remove(&call) else {
            return;
        };
        let now = SystemTime::now();
        if let Err(e) = finish(
            &mut self.store,
            &mut self.dialer,
            &p.store_call,
            &p.e164,
            disposition,
            sip_status,
            language,
            now,
        ) {
            self.errors += 1;
            tracing::error!(error = %e, "could not store a call's end");
        }
    }
}

impl EngineApp for CampaignDialler {
    fn on_event(&mut self, event: &EngineEvent) {
        if let EngineEvent::CallEnded {
            call,
            disposition,
            reason,
            language,
            ..
        } = event
        {
            let sip_status = match reason {
                EndReason::Rejected { status, .. } => Some(*status),
                EndReason::Timeout => Some(408),
                EndReason::Cancelled => Some(487),
                _ => None,
            };
            self.end(*call, *disposition, sip_status, language.as_deref());
        }
    }

    fn on_tick(&mut self, engine: &mut SurveyEngine, now: Instant) {
        while let Some(&Reverse((due, h))) = self.ring_deadlines.peek() {
            if due > now {
                break;
            }
            self.ring_deadlines.pop();
            if self.calls.contains_key(&h) && engine.is_ringing(h) {
                engine.hangup(now, h);
            }
        }
        while !self.draining {
            let order = match dial_next(
                &mut self.store,
                self.campaign,
                &mut self.dialer,
                SystemTime::now(),
            ) {
                Ok(Some(order)) => order,
                Ok(None) => break,
                Err(e) => {
                    self.errors += 1;
                    tracing::error!(error = %e, "the dialler could not read or write the store");
                    break;
                }
            };
            let (order, store_call) = order;
            let (trunk, host) = self.trunks.get(order.trunk).unwrap_or(&self.trunks[0]);
            let target = Uri::parse(&format!("sip:{}@{}", order.e164, host));
            let placed = target.map_err(|e| e.to_string()).and_then(|t| {
                engine
                    .place_campaign_call(now, t, *trunk, store_call.clone())
                    .map_err(|e| e.to_string())
            });
            match placed {
                Ok(h) => {
                    self.ring_deadlines
                        .push(Reverse((now + self.ring_timeout, h)));
                    self.calls.insert(
                        h,
                        Placed {
                            store_call,
                            e164: order.e164,
                            since: now,
                        },
                    );
                }
                Err(why) => {
                    tracing::warn!(%why, "could not place a call");
                    let h = CallHandle(u64::MAX);
                    self.calls.insert(
                        h,
                        Placed {
                            store_call,
                            e164: order.e164,
                            since: now,
                        },
                    );
                    self.end(h, Disposition::Failed, None, None);
                    break;
                }
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let now_wall = SystemTime::now();
        let now = Instant::now();
        let dial = self
            .dialer
            .poll_timeout()
            .map(|t| now + t.duration_since(now_wall).unwrap_or(Duration::ZERO));
        let ring = self.ring_deadlines.peek().map(|Reverse((due, _))| *due);
        let dial = dial.filter(|_| !self.draining);
        [dial, ring].into_iter().flatten().min()
    }

    fn is_done(&self) -> bool {
        self.is_finished() || (self.draining && self.calls.is_empty())
    }
}
