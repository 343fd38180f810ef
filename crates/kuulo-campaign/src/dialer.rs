//! The campaign dialer: which contact to call next, and when.
//!
//! A sans-IO state machine like the SIP and media cores: no clock, no
//! store, no sockets inside. The run loop of a driver:
//!
//! 1. call [`Dialer::poll_dial`] with the current time until it returns
//!    `None`; for each [`DialOrder`], record the attempt in the store
//!    *first* ([`Store::record_call_start`](crate::Store::record_call_start)),
//!    then place the call;
//! 2. drain [`Dialer::poll_event`] and persist what it reports;
//! 3. sleep until [`Dialer::poll_timeout`] or until a call ends, and give
//!    each end to [`Dialer::on_outcome`].
//!
//! [`crate::run`] does the store side of steps 1–3 for a
//! synchronous driver.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use thiserror::Error;

use crate::contacts::Contact;
use crate::exclusions::{ExclusionCounts, ExclusionReason, Exclusions};
use crate::pacing::{from_nanos, nanos, CallingHours, TokenBucket};
use crate::store::QueuedContact;
use crate::types::Disposition;

/// A SIP trunk the dialer spreads calls over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trunk {
    /// A name for logs and reports.
    pub name: String,
    /// Most calls at once on this trunk (the carrier's channel limit).
    pub max_concurrent: u32,
}

/// When to try again after a call that did not reach a final disposition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Most attempts per contact, the first included.
    pub max_attempts: u32,
    /// First delay after a busy line; `None`: no retry.
    pub busy: Option<Duration>,
    /// First delay after no answer; `None`: no retry.
    pub no_answer: Option<Duration>,
    /// First delay after a failure that may pass (5xx, 408, ...).
    pub failed: Option<Duration>,
    /// First delay after an answered call hung up before consent. `None`
    /// by default: hanging up on the greeting is taken as a no.
    pub abandoned: Option<Duration>,
    /// Each further retry waits this many times longer.
    pub backoff_factor: u32,
    /// Longest delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            busy: Some(Duration::from_secs(10 * 60)),
            no_answer: Some(Duration::from_secs(2 * 3600)),
            failed: Some(Duration::from_secs(30 * 60)),
            abandoned: None,
            backoff_factor: 2,
            max_delay: Duration::from_secs(24 * 3600),
        }
    }
}

/// SIP statuses after which the number will not work later either: not
/// found, gone, address incomplete, ambiguous, declined, does not exist,
/// not acceptable anywhere.
const PERMANENT_SIP: [u16; 7] = [404, 410, 484, 485, 603, 604, 606];

impl RetryPolicy {
    /// The delay before the next attempt after `attempts` made, or `None`
    /// if the contact is not to be called again.
    pub fn delay(
        &self,
        disposition: Disposition,
        sip_status: Option<u16>,
        attempts: u32,
    ) -> Option<Duration> {
        if disposition.is_final() || attempts >= self.max_attempts {
            return None;
        }
        let first = match disposition {
            Disposition::Busy => self.busy,
            Disposition::NoAnswer => self.no_answer,
            Disposition::Abandoned => self.abandoned,
            Disposition::Failed if sip_status.is_some_and(|s| PERMANENT_SIP.contains(&s)) => None,
            Disposition::Failed => self.failed,
            _ => None,
        }?;
        let factor = self
            .backoff_factor
            .max(1)
            .saturating_pow(attempts.saturating_sub(1));
        Some(first.saturating_mul(factor).min(self.max_delay))
    }
}

/// How the dialer paces and retries.
#[derive(Debug, Clone)]
pub struct DialerConfig {
    /// Calls started per second at full rate (18,000 calls an hour is 5).
    pub calls_per_second: f64,
    /// Calls that may start back to back after an idle spell.
    pub burst: u32,
    /// The rate grows linearly from 0 to `calls_per_second` over this long.
    pub ramp_up: Duration,
    /// Most calls at once over all trunks.
    pub max_concurrent: u32,
    /// Trunks; an empty list means one trunk without its own cap.
    pub trunks: Vec<Trunk>,
    /// When residents may be called.
    pub hours: CallingHours,
    /// Retries.
    pub retry: RetryPolicy,
}

impl Default for DialerConfig {
    fn default() -> Self {
        DialerConfig {
            calls_per_second: 5.0,
            burst: 1,
            ramp_up: Duration::ZERO,
            max_concurrent: 100,
            trunks: Vec::new(),
            hours: CallingHours::default(),
            retry: RetryPolicy::default(),
        }
    }
}

/// One call to place now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialOrder {
    /// Number to call, E.164.
    pub e164: String,
    /// Which attempt this is, from 1.
    pub attempt: u32,
    /// Index of the trunk in [`DialerConfig::trunks`] (0 if none given).
    pub trunk: usize,
    /// The contact's language, if known, to start the survey in.
    pub language: Option<String>,
}

/// What follows a call's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Followup {
    /// Final disposition: never called again.
    Done,
    /// Called again, not before this time.
    RetryAt(SystemTime),
    /// Not final, but no retry is left or allowed.
    GaveUp,
}

/// Something the driver must persist that happened inside the dialer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialerEvent {
    /// Found excluded at dial time (for example turned out to be on the
    /// do-not-call list, or is still under 18 on the day).
    Excluded {
        /// The number.
        e164: String,
        /// Why.
        reason: ExclusionReason,
    },
    /// Restored with its attempts already used up (a crash after the
    /// last attempt): off the queue.
    Exhausted {
        /// The number.
        e164: String,
    },
}

/// A misuse by the driver.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DialerError {
    /// An outcome for a number that has no call under way.
    #[error("no call to {0} is under way; give each call's outcome exactly once")]
    NotActive(String),
}

/// Figures for a progress bar.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DialerStats {
    /// Calls placed in this run.
    pub placed: u64,
    /// Calls under way.
    pub active: u64,
    /// Contacts waiting for a (next) call.
    pub waiting: u64,
    /// Contacts finished: final disposition, or retries used up.
    pub finished: u64,
    /// Contacts excluded at dial time.
    pub excluded: ExclusionCounts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Active(usize),
    Finished,
    Excluded,
}

#[derive(Debug)]
struct Entry {
    contact: Contact,
    attempts: u32,
    state: State,
}

/// The dialer. See the module docs for its run loop.
#[derive(Debug)]
pub struct Dialer {
    config: DialerConfig,
    exclusions: Exclusions,
    bucket: TokenBucket,
    entries: HashMap<String, Entry>,
    /// Waiting contacts by due time, then queue order; a contact is in it
    /// exactly while it waits.
    due: BinaryHeap<Reverse<(u64, u64, String)>>,
    seq: u64,
    trunk_active: Vec<u32>,
    active: u32,
    events: VecDeque<DialerEvent>,
    stats: DialerStats,
    last_now: Option<SystemTime>,
    /// The calling window last found open, so most polls skip the
    /// time-zone arithmetic.
    open: Option<(SystemTime, SystemTime)>,
}

impl Dialer {
    /// An empty dialer.
    pub fn new(config: DialerConfig, exclusions: Exclusions) -> Dialer {
        let bucket = TokenBucket::new(config.calls_per_second, config.burst, config.ramp_up);
        let trunks = config.trunks.len().max(1);
        Dialer {
            config,
            exclusions,
            bucket,
            entries: HashMap::new(),
            due: BinaryHeap::new(),
            seq: 0,
            trunk_active: vec![0; trunks],
            active: 0,
            events: VecDeque::new(),
            stats: DialerStats::default(),
            last_now: None,
            open: None,
        }
    }

    /// A dialer holding the store's pending contacts, as
    /// [`Store::pending_contacts`](crate::Store::pending_contacts) returns them.
    pub fn restore(
        config: DialerConfig,
        exclusions: Exclusions,
        queued: impl IntoIterator<Item = QueuedContact>,
    ) -> Dialer {
        let mut dialer = Dialer::new(config, exclusions);
        for q in queued {
            let contact = Contact::from_attributes(&q.e164, &q.attributes);
            dialer.add_contact(contact, q.attempts, q.next_attempt_at);
        }
        dialer
    }

    /// Adds a contact with `attempts` already made, not to be called before
    /// `not_before`. A number already held is left as it is.
    pub fn add_contact(&mut self, contact: Contact, attempts: u32, not_before: Option<SystemTime>) {
        if self.entries.contains_key(&contact.e164) {
            return;
        }
        let e164 = contact.e164.clone();
        // Restored with every attempt used (a crash during the last one):
        // off the queue now, not when its retry time comes.
        let exhausted = attempts >= self.config.retry.max_attempts;
        let state = if exhausted {
            State::Finished
        } else {
            State::Waiting
        };
        self.entries.insert(
            e164.clone(),
            Entry {
                contact,
                attempts,
                state,
            },
        );
        if exhausted {
            self.stats.finished += 1;
            self.events.push_back(DialerEvent::Exhausted { e164 });
            return;
        }
        self.stats.waiting += 1;
        self.push_due(e164, not_before.map_or(0, nanos));
    }

    fn push_due(&mut self, e164: String, at: u64) {
        self.seq += 1;
        self.due.push(Reverse((at, self.seq, e164)));
    }

    /// Puts a number on the do-not-call list of this run: it is not
    /// dialled again (a call under way is not cut).
    pub fn mark_do_not_call(&mut self, e164: &str) {
        self.exclusions.add_do_not_call(e164);
    }

    /// The next call to place at `now`, or `None` if none may start now
    /// (see [`poll_timeout`](Self::poll_timeout)).
    pub fn poll_dial(&mut self, now: SystemTime) -> Option<DialOrder> {
        self.poll_dial_with(now, |_| Ok::<_, std::convert::Infallible>(None))
            .unwrap_or_else(|never| match never {})
    }

    /// [`poll_dial`](Self::poll_dial) with an extra dial-time check, such
    /// as a look-up in the store's do-not-call list. If the check fails,
    /// the contact stays queued and the error is returned.
    pub fn poll_dial_with<E>(
        &mut self,
        now: SystemTime,
        mut check: impl FnMut(&str) -> Result<Option<ExclusionReason>, E>,
    ) -> Result<Option<DialOrder>, E> {
        self.last_now = Some(now);
        if !self.is_open(now) || self.active >= self.config.max_concurrent {
            return Ok(None);
        }
        let Some(trunk) = self.free_trunk() else {
            return Ok(None);
        };
        self.bucket.refill(now);
        if !self.bucket.ready() {
            return Ok(None);
        }
        let today = self.config.hours.local_date(now);
        let now_ns = nanos(now);
        while let Some(Reverse((at, _, _))) = self.due.peek() {
            if *at > now_ns {
                break;
            }
            let Some(Reverse((at, seq, e164))) = self.due.pop() else {
                break;
            };
            let Some(entry) = self.entries.get_mut(&e164) else {
                continue;
            };
            if entry.state != State::Waiting {
                continue;
            }
            if entry.attempts >= self.config.retry.max_attempts {
                entry.state = State::Finished;
                self.stats.waiting -= 1;
                self.stats.finished += 1;
                self.events.push_back(DialerEvent::Exhausted { e164 });
                continue;
            }
            let reason = match self.exclusions.check(&entry.contact, today) {
                Some(r) => Some(r),
                None => match check(&e164) {
                    Ok(r) => r,
                    Err(e) => {
                        self.due.push(Reverse((at, seq, e164)));
                        return Err(e);
                    }
                },
            };
            if let Some(reason) = reason {
                entry.state = State::Excluded;
                self.stats.waiting -= 1;
                self.stats.excluded.add(reason);
                self.events
                    .push_back(DialerEvent::Excluded { e164, reason });
                continue;
            }
            self.bucket.try_take();
            entry.attempts += 1;
            entry.state = State::Active(trunk);
            self.active += 1;
            self.trunk_active[trunk] += 1;
            self.stats.waiting -= 1;
            self.stats.active += 1;
            self.stats.placed += 1;
            return Ok(Some(DialOrder {
                language: entry.contact.language.clone(),
                e164,
                attempt: entry.attempts,
                trunk,
            }));
        }
        Ok(None)
    }

    fn is_open(&mut self, now: SystemTime) -> bool {
        if let Some((start, end)) = self.open {
            if start <= now && now < end {
                return true;
            }
        }
        self.open = self.config.hours.open_interval(now);
        self.open.is_some()
    }

    /// The least busy trunk with a free channel.
    fn free_trunk(&self) -> Option<usize> {
        if self.config.trunks.is_empty() {
            return Some(0);
        }
        self.config
            .trunks
            .iter()
            .zip(&self.trunk_active)
            .enumerate()
            .filter(|(_, (t, &n))| n < t.max_concurrent)
            .min_by_key(|(_, (_, &n))| n)
            .map(|(i, _)| i)
    }

    /// When to call [`poll_dial`](Self::poll_dial) next, as of the last
    /// call to it. `None`: nothing to do until a call ends (all lines
    /// busy), or nothing at all ([`is_finished`](Self::is_finished)).
    pub fn poll_timeout(&self) -> Option<SystemTime> {
        if self.active >= self.config.max_concurrent || self.free_trunk().is_none() {
            return None;
        }
        // Contacts leave the waiting state only by being popped, so the
        // top of the heap is always a waiting contact.
        let Reverse((due, _, _)) = self.due.peek()?;
        let due = *due;
        let mut t = from_nanos(due);
        if let Some(now) = self.last_now {
            t = t.max(now);
        }
        if let Some(token) = self.bucket.next_token() {
            t = t.max(token);
        }
        self.config.hours.next_open(t)
    }

    /// Gives the end of the call to `e164`: its disposition and final SIP
    /// status. Returns what follows, which the driver persists.
    pub fn on_outcome(
        &mut self,
        now: SystemTime,
        e164: &str,
        disposition: Disposition,
        sip_status: Option<u16>,
    ) -> Result<Followup, DialerError> {
        let not_active = || DialerError::NotActive(e164.to_owned());
        let entry = self.entries.get_mut(e164).ok_or_else(not_active)?;
        let State::Active(trunk) = entry.state else {
            return Err(not_active());
        };
        self.active -= 1;
        self.trunk_active[trunk] -= 1;
        self.stats.active -= 1;
        if disposition.is_final() {
            entry.state = State::Finished;
            self.stats.finished += 1;
            return Ok(Followup::Done);
        }
        match self
            .config
            .retry
            .delay(disposition, sip_status, entry.attempts)
        {
            Some(delay) => {
                entry.state = State::Waiting;
                self.stats.waiting += 1;
                let at = now + delay;
                self.push_due(e164.to_owned(), nanos(at));
                Ok(Followup::RetryAt(at))
            }
            None => {
                entry.state = State::Finished;
                self.stats.finished += 1;
                Ok(Followup::GaveUp)
            }
        }
    }

    /// The next event to persist, if any.
    pub fn poll_event(&mut self) -> Option<DialerEvent> {
        self.events.pop_front()
    }

    /// Figures for a progress bar.
    pub fn stats(&self) -> &DialerStats {
        &self.stats
    }

    /// True when no contact waits and no call is under way.
    pub fn is_finished(&self) -> bool {
        self.stats.waiting == 0 && self.stats.active == 0
    }
}
