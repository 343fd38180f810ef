//! The dialler's own thread: it owns the [`Dialer`] and its store
//! connection, commits each attempt before handing the engine the order,
//! and commits each call's end with its retry.
//!
//! Why a thread: these are SQLite transactions. They usually take well
//! under a millisecond, but one can wait several milliseconds behind the
//! answer writer's lock (7.5 ms measured at 100 setups/s), and on the
//! engine thread every such wait delays the 20 ms media ticks of every
//! call of the shard. Here a wait delays only the next INVITE.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use kuulo_campaign::run::{dial_next, finish};
use kuulo_campaign::{CallId, CampaignId, DialOrder, Dialer, DialerStats, Disposition, Store};
use tokio::sync::Notify;

/// What the engine side tells the dialler thread.
#[derive(Debug)]
pub(super) enum ToWorker {
    /// A placed call (or one that could not be placed) ended.
    Ended(CallEnd),
    /// Commit no new attempts (the campaign is stopping).
    StopDialling,
}

/// The end of a call, as the dialler stores it.
#[derive(Debug)]
pub(super) struct CallEnd {
    pub store_call: CallId,
    pub e164: String,
    pub disposition: Disposition,
    pub sip_status: Option<u16>,
    pub language: Option<String>,
    pub at: SystemTime,
}

/// An attempt already committed to the store, for the engine to place.
pub(super) type ReadyOrder = (DialOrder, CallId);

/// What the dialler thread publishes for the engine side and progress
/// displays; read without waiting on any store transaction.
#[derive(Debug, Default)]
pub(super) struct Shared {
    pub snapshot: Mutex<Snapshot>,
    /// Store writes that failed (each is logged).
    pub errors: AtomicU64,
    /// Orders committed and sent to the engine, counted before the send.
    pub committed: AtomicU64,
    /// Set once the thread has taken [`ToWorker::StopDialling`]: every
    /// order it committed is in the channel by then.
    pub stopped: AtomicBool,
    /// Wakes the engine's driver when there is something for it: an
    /// order, a stop acknowledged, the campaign finished.
    pub wake: Arc<Notify>,
}

/// The dialler's figures as of its last step.
#[derive(Debug, Default)]
pub(super) struct Snapshot {
    pub stats: DialerStats,
    /// When the dialler will next have a call to place.
    pub next_dial: Option<SystemTime>,
    /// Every contact reached a final state and no call is under way.
    pub finished: bool,
}

/// How long the thread waits after a store error before trying again,
/// so a broken database is logged a few times a second, not in a spin.
const ERROR_BACKOFF: Duration = Duration::from_millis(200);

/// The thread's state.
pub(super) struct Worker {
    pub store: Store,
    pub campaign: CampaignId,
    pub dialer: Dialer,
    pub commands: Receiver<ToWorker>,
    pub orders: Sender<ReadyOrder>,
    pub shared: Arc<Shared>,
}

impl Worker {
    /// Runs until the engine side hangs up its end of the command channel
    /// (after which every end it sent has been committed).
    pub fn run(mut self) {
        let mut dialling = true;
        loop {
            // Ends first: each frees a line the dialer may use at once.
            loop {
                match self.commands.try_recv() {
                    Ok(command) => self.handle(command, &mut dialling),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return self.publish(),
                }
            }
            let failed = dialling && !self.dial_due();
            self.publish();
            let wait = if failed {
                Some(ERROR_BACKOFF)
            } else if dialling {
                self.dialer.poll_timeout().map(|at| {
                    // At least a millisecond, so a due time the dialer
                    // keeps in the past cannot make this loop spin.
                    at.duration_since(SystemTime::now())
                        .unwrap_or(Duration::ZERO)
                        .max(Duration::from_millis(1))
                })
            } else {
                None
            };
            let next = match wait {
                Some(wait) => match self.commands.recv_timeout(wait) {
                    Ok(command) => Some(command),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return self.publish(),
                },
                None => match self.commands.recv() {
                    Ok(command) => Some(command),
                    Err(_) => return self.publish(),
                },
            };
            if let Some(command) = next {
                self.handle(command, &mut dialling);
            }
        }
    }

    /// Commits and hands over every order whose time has come. False
    /// when the store failed (logged) or the engine side is gone.
    fn dial_due(&mut self) -> bool {
        loop {
            match dial_next(
                &mut self.store,
                self.campaign,
                &mut self.dialer,
                SystemTime::now(),
            ) {
                Ok(Some(order)) => {
                    self.shared.committed.fetch_add(1, Ordering::Release);
                    // A closed channel means the engine side is closing;
                    // its own disconnect of the command channel ends us.
                    if self.orders.send(order).is_err() {
                        return false;
                    }
                    self.shared.wake.notify_one();
                }
                Ok(None) => return true,
                Err(e) => {
                    self.shared.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(error = %e, "the dialler could not read or write the store");
                    return false;
                }
            }
        }
    }

    fn handle(&mut self, command: ToWorker, dialling: &mut bool) {
        match command {
            ToWorker::Ended(end) => {
                if let Err(e) = finish(
                    &mut self.store,
                    &mut self.dialer,
                    &end.store_call,
                    &end.e164,
                    end.disposition,
                    end.sip_status,
                    end.language.as_deref(),
                    end.at,
                ) {
                    self.shared.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(error = %e, "could not store a call's end");
                }
            }
            ToWorker::StopDialling => {
                *dialling = false;
                self.shared.stopped.store(true, Ordering::Release);
            }
        }
    }

    fn publish(&self) {
        let snapshot = Snapshot {
            stats: self.dialer.stats().clone(),
            next_dial: self.dialer.poll_timeout(),
            finished: self.dialer.is_finished(),
        };
        *self
            .shared
            .snapshot
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = snapshot;
        // The engine may be asleep waiting for exactly this (the last end
        // committed, the stop taken).
        self.shared.wake.notify_one();
    }
}
