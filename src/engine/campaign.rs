//! The campaign dialler as an [`EngineApp`]: the kuulo-campaign `Dialer`
//! decides who to call and when, the engine places and runs the calls.
//!
//! Each attempt is recorded in the store by `run::dial_next` *before* the
//! INVITE leaves (so a crash never lets a contact be called more often than
//! its retry policy allows); the engine adopts that call id for the
//! answers, and the call's end is written with its retry time, in one
//! transaction, by `run::finish`. Both run on the dialler's own thread
//! ([`worker`]), so no store transaction ever runs on the engine thread
//! that keeps the calls' media on time.
//!
//! An attempt committed is placed: when [`CampaignDialler::stop_dialling`]
//! comes while the dialler thread is committing one, that call still goes
//! out (at most the one or two whose time had come), and the run ends
//! after it. If the engine is already hanging up every call, such an order
//! ends at once as a failed attempt, retried by the campaign's policy.

mod worker;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use kuulo_campaign::{CallId, CampaignId, Dialer, DialerStats, Disposition, Store};
use kuulo_sip::message::Uri;
use kuulo_sip::transport::Peer;
use kuulo_sip::ua::{CallHandle, EndReason};
use tokio::sync::Notify;

use super::driver::EngineApp;
use super::{EngineEvent, SurveyEngine};
use worker::{CallEnd, ReadyOrder, Shared, ToWorker, Worker};

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
    /// To the dialler thread; `None` once [`close`](Self::close)d.
    commands: Option<Sender<ToWorker>>,
    orders: Receiver<ReadyOrder>,
    /// Orders taken from `orders` (against `Shared::committed`).
    received: u64,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// Where each of the dialer's trunks is, and its Request-URI host.
    trunks: Vec<(Peer, String)>,
    ring_timeout: Duration,
    calls: HashMap<CallHandle, Placed>,
    /// When each placed call's ring timeout falls due, earliest first: a
    /// wake-up looks only at the calls whose time has come, never at all
    /// of them (thousands of calls, a wake-up per packet).
    ring_deadlines: BinaryHeap<Reverse<(Instant, CallHandle)>>,
    /// Set by [`stop_dialling`](Self::stop_dialling): no new calls.
    draining: bool,
}

impl CampaignDialler {
    /// Calls go to `trunk` as `sip:<E.164>@<trunk_host>`; calls still
    /// ringing after `ring_timeout` are cancelled (no answer). `store` is
    /// the dialler's own connection to the results database; it moves to
    /// the dialler's thread, which this starts.
    pub fn new(
        store: Store,
        campaign: CampaignId,
        dialer: Dialer,
        trunk: Peer,
        trunk_host: impl Into<String>,
        ring_timeout: Duration,
    ) -> CampaignDialler {
        let (commands, command_rx) = mpsc::channel();
        let (order_tx, orders) = mpsc::channel();
        let shared = Arc::new(Shared::default());
        let worker = Worker {
            store,
            campaign,
            dialer,
            commands: command_rx,
            orders: order_tx,
            shared: Arc::clone(&shared),
        };
        let thread = std::thread::Builder::new()
            .name("kuulo-dialler".into())
            .spawn(move || worker.run())
            .expect("the OS refused a thread for the dialler");
        CampaignDialler {
            commands: Some(commands),
            orders,
            received: 0,
            shared,
            thread: Some(thread),
            trunks: vec![(trunk, trunk_host.into())],
            ring_timeout,
            calls: HashMap::new(),
            ring_deadlines: BinaryHeap::new(),
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
        self.calls.is_empty() && self.read_snapshot(|s| s.finished)
    }

    /// Places no new call; calls under way run to their end, after which
    /// the run is done (the first Ctrl-C of `kuulo campaign run`). The
    /// contacts not yet called stay in the store's queue for the next run.
    pub fn stop_dialling(&mut self) {
        if !self.draining {
            self.draining = true;
            self.send(ToWorker::StopDialling);
        }
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

    /// The dialer's figures as of its thread's last step.
    pub fn stats(&self) -> DialerStats {
        self.read_snapshot(|s| s.stats.clone())
    }

    /// When the dialer will next have a call to place (`None`: when a
    /// call ends, or never).
    pub fn next_dial_at(&self) -> Option<SystemTime> {
        self.read_snapshot(|s| s.next_dial)
    }

    /// Store writes that failed (each is logged).
    pub fn errors(&self) -> u64 {
        self.shared.errors.load(Ordering::Relaxed)
    }

    /// Waits until the dialler thread has committed every call end it was
    /// given and has stopped; call this before reading the results. Calls
    /// still under way are left as they are in the store (as after a
    /// crash: the next run counts them as attempts).
    pub fn close(&mut self) {
        self.commands = None;
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                self.shared.errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!("the dialler thread panicked");
            }
        }
    }

    /// Orders committed by the dialler thread and not yet placed.
    fn orders_pending(&self) -> u64 {
        self.shared.committed.load(Ordering::Acquire) - self.received
    }

    /// Reads the dialler thread's last figures without copying them all:
    /// the driver asks on every round.
    fn read_snapshot<R>(&self, read: impl FnOnce(&worker::Snapshot) -> R) -> R {
        read(
            &self
                .shared
                .snapshot
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    fn send(&self, command: ToWorker) {
        let sent = self.commands.as_ref().map(|c| c.send(command));
        if !matches!(sent, Some(Ok(()))) {
            self.shared.errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!("the dialler thread is gone; a call's end was not stored");
        }
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
        self.send(ToWorker::Ended(CallEnd {
            store_call: p.store_call,
            e164: p.e164,
            disposition,
            sip_status,
            language: language.map(str::to_owned),
            at: SystemTime::now(),
        }));
    }

    /// Places an order the dialler thread has committed.
    fn place(&mut self, engine: &mut SurveyEngine, now: Instant, order: ReadyOrder) {
        let (order, store_call) = order;
        let (trunk, host) = self.trunks.get(order.trunk).unwrap_or(&self.trunks[0]);
        let target = Uri::parse(&format!("sip:{}@{}", order.e164, host));
        let placed_handle = target.map_err(|e| e.to_string()).and_then(|t| {
            engine
                .place_campaign_call(now, t, *trunk, store_call.clone())
                .map_err(|e| e.to_string())
        });
        let placed = Placed {
            store_call,
            e164: order.e164,
            since: now,
        };
        match placed_handle {
            Ok(h) => {
                self.ring_deadlines
                    .push(Reverse((now + self.ring_timeout, h)));
                self.calls.insert(h, placed);
            }
            Err(why) => {
                tracing::warn!(%why, "could not place a call");
                self.send(ToWorker::Ended(CallEnd {
                    store_call: placed.store_call,
                    e164: placed.e164,
                    disposition: Disposition::Failed,
                    sip_status: None,
                    language: None,
                    at: SystemTime::now(),
                }));
            }
        }
    }
}

impl Drop for CampaignDialler {
    fn drop(&mut self) {
        self.close();
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
        while let Ok(order) = self.orders.try_recv() {
            self.received += 1;
            self.place(engine, now, order);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        // Orders arrive through the waker; only ring timeouts are ours.
        self.ring_deadlines.peek().map(|Reverse((due, _))| *due)
    }

    fn waker(&self) -> Option<Arc<Notify>> {
        Some(Arc::clone(&self.shared.wake))
    }

    fn is_done(&self) -> bool {
        if self.is_finished() {
            return true;
        }
        // Draining: done once the dialler thread has taken the stop (so no
        // committed order is still on its way) and every call has ended.
        self.draining
            && self.shared.stopped.load(Ordering::Acquire)
            && self.calls.is_empty()
            && self.orders_pending() == 0
    }
}
