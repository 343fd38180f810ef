//! A lock-free single-producer/single-consumer jitter buffer.
//!
//! The network side owns a [`JitterProducer`] and pushes each RTP packet as it
//! arrives; the playout clock owns a [`JitterConsumer`] and pops one frame per
//! tick (one packet is one frame: the tick must equal the packet time). The
//! two halves share a fixed ring of slots indexed by a virtual extended
//! sequence number, so neither side ever blocks, locks or allocates after
//! [`JitterBuffer::new`].
//!
//! Slot ownership protocol (each slot has one atomic tag):
//! `EMPTY` slots belong to the producer, `FULL(v)` slots are published and
//! may be claimed by exactly one side with a compare-and-swap to `BUSY`: the
//! consumer to read a frame, the producer to evict a stale one. Whoever set
//! `BUSY` ends it, by `EMPTY` (consumer) or `FULL(v')` (producer). A side that
//! loses a race never waits: the consumer conceals, the producer drops and
//! counts.
//!
//! Resync: an SSRC change, or a sequence jump confirmed by the next packet
//! (RFC 3550 A.1 probation), maps the new stream to continue right after the
//! newest stored frame, so playout goes on without a gap or a rebuffer. Two
//! sources interleaving would resync on every packet; that is taken as a
//! peer's bug, not a case to smooth over. A timestamp jump with a continuous
//! sequence (a new talk spurt clock) only resets the jitter estimate.
//!
//! Run `RUSTFLAGS="--cfg loom" cargo test -p kuulo-media --release --test
//! jitter_loom` to check the protocol with loom.

use std::fmt;
use std::time::Instant;

use sync::{Arc, AtomicU64, Ordering, UnsafeCell};

mod config;
mod outcome;
mod silence;
mod sync;

use config::validate;
pub use config::{JitterConfig, JitterConfigError, JitterStats};
pub use outcome::{Playout, PushOutcome};
pub use silence::{G711Silence, NoSilence, SilenceDetector};

const EMPTY: u64 = 0;
const BUSY: u64 = 1;
/// Virtual indices start here so that packets reordered before the first
/// one (negative offsets up to `i16::MIN`) still map to positive indices.
const BASE: u64 = 1 << 16;

fn full(v: u64) -> u64 {
    (v << 1) | 1
}

fn full_index(tag: u64) -> Option<u64> {
    (tag & 1 == 1 && tag > BUSY).then_some(tag >> 1)
}

/// Constructor of the producer/consumer pair.
#[derive(Debug)]
pub struct JitterBuffer;

impl JitterBuffer {
    /// Allocates the ring and splits it into its two halves.
    ///
    /// Both halves are `Send`: move the producer to the network task and the
    /// consumer to the playout clock.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(
        config: JitterConfig,
    ) -> Result<(JitterProducer, JitterConsumer), JitterConfigError> {
        validate(&config)?;
        let slots = (0..config.capacity)
            .map(|_| Slot {
                tag: AtomicU64::new(EMPTY),
                data: UnsafeCell::new(SlotData {
                    len: 0,
                    seq: 0,
                    timestamp: 0,
                }),
            })
            .collect();
        let payloads = (0..config.capacity * config.max_payload)
            .map(|_| std::cell::UnsafeCell::new(0))
            .collect();
        let shared = Arc::new(Shared {
            slots,
            payloads,
            max_payload: config.max_payload,
            mask: config.capacity as u64 - 1,
            high_next: AtomicU64::new(0),
            play_head: AtomicU64::new(0),
            jitter: AtomicU64::new(0),
            counters: Default::default(),
        });
        let producer = JitterProducer {
            shared: Arc::clone(&shared),
            seen: vec![0; config.capacity].into_boxed_slice(),
            stream: None,
            high_next: 0,
            probation: None,
            epoch: None,
            transit: None,
            jitter16: 0,
            config: config.clone(),
        };
        let consumer = JitterConsumer {
            shared,
            scratch: vec![0; config.max_payload].into_boxed_slice(),
            playing: false,
            play_head: 0,
            target: config.min_delay_frames,
            avg_depth_q8: config.min_delay_frames << 8,
            shrink_ticks: 0,
            seen_late: 0,
            held: None,
            stats: ConsumerStats::default(),
            config,
        };
        Ok((producer, consumer))
    }
}

/// A stored packet but for its bytes, which are the slot's share of
/// [`Shared::payloads`], owned along with this under the slot's tag.
struct SlotData {
    /// At most `max_payload`, which validation keeps under 2 KiB.
    len: u16,
    seq: u16,
    timestamp: u32,
}

struct Slot {
    tag: AtomicU64,
    data: UnsafeCell<SlotData>,
}

#[derive(Default)]
struct Counters {
    received: AtomicU64,
    accepted: AtomicU64,
    duplicates: AtomicU64,
    late: AtomicU64,
    overflow: AtomicU64,
    evicted: AtomicU64,
    stray: AtomicU64,
    too_large: AtomicU64,
    resyncs: AtomicU64,
}

struct Shared {
    slots: Box<[Slot]>,
    /// Slot `i`'s payload is `max_payload` bytes from `i * max_payload`,
    /// owned with the slot's data under its tag. One allocation for the
    /// ring instead of one per slot: a slot is then 16 bytes besides its
    /// payload rather than 40 (and a malloc header).
    payloads: Box<[std::cell::UnsafeCell<u8>]>,
    max_payload: usize,
    mask: u64,
    /// One past the highest virtual index published; 0 before any packet.
    high_next: AtomicU64,
    /// Next index the consumer plays: older packets are late.
    play_head: AtomicU64,
    /// RFC 3550 interarrival jitter, timestamp units.
    jitter: AtomicU64,
    counters: Counters,
}

// SAFETY: slot data and payload bytes are only touched by the side that owns
// the slot under the tag protocol described in the module docs; everything
// else is atomic.
unsafe impl Sync for Shared {}
// SAFETY: as above; the boxed slots and payloads have no thread affinity.
unsafe impl Send for Shared {}

impl Shared {
    fn slot(&self, v: u64) -> &Slot {
        // The mask keeps the index below `slots.len()`.
        &self.slots[(v & self.mask) as usize]
    }

    /// The first of slot `v`'s `max_payload` payload bytes. Only the side
    /// that holds the slot under the tag protocol may read or write
    /// through it, and only inside the slot data's `with`/`with_mut`, so
    /// loom checks the bytes along with the data.
    fn payload_ptr(&self, v: u64) -> *mut u8 {
        let start = (v & self.mask) as usize * self.max_payload;
        // In bounds: the mask keeps the slot index below `slots.len()`,
        // and there are `max_payload` bytes per slot.
        std::cell::UnsafeCell::raw_get(self.payloads[start..start + self.max_payload].as_ptr())
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

#[derive(Debug, Clone, Copy)]
struct Stream {
    ssrc: u32,
    max_seq: u16,
    max_v: u64,
    max_ts: u32,
    /// Packets mapped below this belong to the time before a resync.
    floor: u64,
}

/// The network half: pushes packets as they arrive.
pub struct JitterProducer {
    shared: Arc<Shared>,
    config: JitterConfig,
    /// Virtual index last stored in each ring position, to spot duplicates
    /// even after the consumer emptied the slot.
    seen: Box<[u64]>,
    stream: Option<Stream>,
    high_next: u64,
    /// `(ssrc, seq)` expected next if a sequence jump is a real restart.
    probation: Option<(u32, u16)>,
    epoch: Option<Instant>,
    transit: Option<u32>,
    jitter16: u64,
}

impl JitterProducer {
    /// Offers one packet, received at `now`. Never blocks or allocates.
    pub fn push(
        &mut self,
        now: Instant,
        ssrc: u32,
        seq: u16,
        timestamp: u32,
        payload: &[u8],
    ) -> PushOutcome {
        let c = &self.shared.counters;
        bump(&c.received);
        if payload.len() > self.config.max_payload {
            bump(&c.too_large);
            return PushOutcome::TooLarge;
        }
        let Some(v) = self.map(ssrc, seq, timestamp) else {
            bump(&self.shared.counters.stray);
            return PushOutcome::Stray;
        };
        let pos = (v & self.shared.mask) as usize;
        if self.seen[pos] == v {
            bump(&self.shared.counters.duplicates);
            return PushOutcome::Duplicate;
        }
        self.seen[pos] = v;
        self.update_jitter(now, timestamp);
        let floor = self.stream.map_or(0, |s| s.floor);
        if v < floor || v < self.shared.play_head.load(Ordering::Acquire) {
            bump(&self.shared.counters.late);
            return PushOutcome::Late;
        }
        let outcome = self.store(v, seq, timestamp, payload);
        if outcome == PushOutcome::Accepted {
            bump(&self.shared.counters.accepted);
            if v + 1 > self.high_next {
                self.high_next = v + 1;
                self.shared.high_next.store(v + 1, Ordering::Release);
            }
        }
        outcome
    }

    fn store(&mut self, v: u64, seq: u16, timestamp: u32, payload: &[u8]) -> PushOutcome {
        let shared = &*self.shared;
        let slot = shared.slot(v);
        // Two tries at most: the consumer may empty a stale slot under us.
        for _ in 0..2 {
            let tag = slot.tag.load(Ordering::Acquire);
            if tag == EMPTY {
                break;
            }
            match full_index(tag) {
                Some(u) if u > v => {
                    bump(&shared.counters.late);
                    return PushOutcome::Late;
                }
                Some(u) => {
                    if slot
                        .tag
                        .compare_exchange(tag, BUSY, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                    {
                        if u >= shared.play_head.load(Ordering::Acquire) {
                            bump(&shared.counters.evicted);
                        }
                        break;
                    }
                }
                None => {
                    bump(&shared.counters.overflow);
                    return PushOutcome::Overflow;
                }
            }
            if slot.tag.load(Ordering::Acquire) != EMPTY {
                bump(&shared.counters.overflow);
                return PushOutcome::Overflow;
            }
        }
        let bytes = shared.payload_ptr(v);
        slot.data.with_mut(|d| {
            // SAFETY: the slot is EMPTY or BUSY by our own CAS, so the
            // consumer does not touch its data or its payload bytes until
            // we publish FULL below; `payload` is at most `max_payload`
            // bytes (checked in `push`), the slot's share of `payloads`.
            let d = unsafe { &mut *d };
            let bytes = unsafe { std::slice::from_raw_parts_mut(bytes, payload.len()) };
            bytes.copy_from_slice(payload);
            d.len = payload.len() as u16;
            d.seq = seq;
            d.timestamp = timestamp;
        });
        slot.tag.store(full(v), Ordering::Release);
        PushOutcome::Accepted
    }

    /// Maps an RTP sequence number to the virtual index, handling wrap,
    /// reordering, restarts and SSRC changes. `None` for an unconfirmed jump.
    fn map(&mut self, ssrc: u32, seq: u16, ts: u32) -> Option<u64> {
        let fresh = |at: u64| Stream {
            ssrc,
            max_seq: seq,
            max_v: at,
            max_ts: ts,
            floor: at,
        };
        let Some(s) = self.stream.as_mut() else {
            let at = self.high_next.max(BASE);
            self.stream = Some(Stream {
                floor: 0,
                ..fresh(at)
            });
            return Some(at);
        };
        if s.ssrc != ssrc {
            return Some(self.resync(fresh));
        }
        let delta = i64::from(seq.wrapping_sub(s.max_seq) as i16);
        let forward_ok = delta > 0 && delta <= i64::from(self.config.max_dropout);
        let backward_ok = delta <= 0 && -delta <= i64::from(self.config.max_misorder);
        if !forward_ok && !backward_ok {
            // RFC 3550 A.1: believe a restart only when the next packet follows it.
            if self.probation == Some((ssrc, seq)) {
                self.probation = None;
                return Some(self.resync(fresh));
            }
            self.probation = Some((ssrc, seq.wrapping_add(1)));
            return None;
        }
        self.probation = None;
        let v = (s.max_v as i64 + delta) as u64;
        if delta > 0 {
            let expected = delta * i64::from(self.config.frame_samples);
            let actual = i64::from(ts.wrapping_sub(s.max_ts) as i32);
            if (actual - expected).abs() > i64::from(self.config.max_timestamp_jump) {
                // Same stream, new clock: only the jitter reference is stale.
                self.transit = None;
                bump(&self.shared.counters.resyncs);
            }
            s.max_seq = seq;
            s.max_v = v;
            s.max_ts = ts;
        }
        Some(v)
    }

    /// Continues the new stream right after the newest stored packet, so the
    /// consumer plays on without a gap or a rebuffer.
    fn resync(&mut self, fresh: impl Fn(u64) -> Stream) -> u64 {
        let at = self.high_next.max(BASE);
        self.stream = Some(fresh(at));
        self.transit = None;
        bump(&self.shared.counters.resyncs);
        at
    }

    fn update_jitter(&mut self, now: Instant, ts: u32) {
        let epoch = *self.epoch.get_or_insert(now);
        let micros = now.saturating_duration_since(epoch).as_micros() as u64;
        let arrival = (micros.wrapping_mul(u64::from(self.config.clock_rate)) / 1_000_000) as u32;
        let transit = arrival.wrapping_sub(ts);
        if let Some(prev) = self.transit {
            // RFC 3550 A.8, capped so one wild packet cannot swamp the estimate.
            let d = u64::from((transit.wrapping_sub(prev) as i32).unsigned_abs()).min(1 << 20);
            self.jitter16 = (self.jitter16 + d).saturating_sub((self.jitter16 + 8) >> 4);
            self.shared
                .jitter
                .store(self.jitter16 >> 4, Ordering::Relaxed);
        }
        self.transit = Some(transit);
    }

    /// Counters so far (the consumer-side fields are zero here).
    pub fn stats(&self) -> JitterStats {
        self.shared.snapshot()
    }
}

impl Shared {
    fn snapshot(&self) -> JitterStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        JitterStats {
            received: get(&c.received),
            accepted: get(&c.accepted),
            duplicates: get(&c.duplicates),
            late: get(&c.late),
            overflow: get(&c.overflow),
            evicted: get(&c.evicted),
            stray: get(&c.stray),
            too_large: get(&c.too_large),
            resyncs: get(&c.resyncs),
            jitter: get(&self.jitter),
            ..JitterStats::default()
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct ConsumerStats {
    played: u64,
    concealed: u64,
    inserted: u64,
    dropped: u64,
    underruns: u64,
    skipped: u64,
}

#[derive(Debug, Clone, Copy)]
struct Held {
    seq: u16,
    timestamp: u32,
    len: usize,
}

impl fmt::Debug for JitterProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JitterProducer")
            .field("high_next", &self.high_next)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for JitterConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JitterConsumer")
            .field("playing", &self.playing)
            .field("play_head", &self.play_head)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// The playout half: pops one frame per tick.
pub struct JitterConsumer {
    shared: Arc<Shared>,
    config: JitterConfig,
    scratch: Box<[u8]>,
    playing: bool,
    play_head: u64,
    target: u32,
    /// Smoothed buffer depth in frames, fixed point with 8 fraction bits.
    avg_depth_q8: u32,
    shrink_ticks: u32,
    seen_late: u64,
    /// A silent frame kept back while a concealment frame was inserted.
    held: Option<Held>,
    stats: ConsumerStats,
}

impl JitterConsumer {
    /// Pops the frame for this tick. Never blocks or allocates.
    pub fn pop<S: SilenceDetector + ?Sized>(&mut self, silence: &mut S) -> Playout<'_> {
        self.adapt_target();
        if let Some(h) = self.held.take() {
            self.stats.played += 1;
            return self.frame(h);
        }
        let high = self.shared.high_next.load(Ordering::Acquire);
        if !self.playing && !self.try_start(high) {
            return Playout::Empty;
        }
        let mut dropped = false;
        loop {
            let v = self.play_head;
            if v >= high {
                self.playing = false;
                self.stats.underruns += 1;
                self.target = (self.target + 1).min(self.config.max_delay_frames);
                return Playout::Empty;
            }
            let depth = high - v;
            if depth > 2 * u64::from(self.config.max_delay_frames) {
                let to = high - u64::from(self.target);
                self.stats.skipped += to - v;
                self.set_play_head(to);
                continue;
            }
            let depth = u32::try_from(depth).unwrap_or(u32::MAX);
            self.avg_depth_q8 = self.avg_depth_q8 - (self.avg_depth_q8 >> 4) + (depth << 4);
            self.set_play_head(v + 1);
            let Some(h) = self.take(v) else {
                self.stats.concealed += 1;
                return Playout::Concealment { lost: true };
            };
            if !silence.is_silence(&self.scratch[..h.len]) {
                self.stats.played += 1;
                return self.frame(h);
            }
            // Hysteresis of a frame between dropping (above target + 1.5)
            // and inserting (below target - 0.5) keeps them from pumping.
            let target_q8 = self.target << 8;
            if !dropped && self.avg_depth_q8 > target_q8 + 384 {
                dropped = true;
                self.stats.dropped += 1;
                self.avg_depth_q8 = self.avg_depth_q8.saturating_sub(1 << 8);
                continue;
            }
            if self.avg_depth_q8 + 128 < target_q8 {
                self.held = Some(h);
                self.stats.inserted += 1;
                self.avg_depth_q8 += 1 << 8;
                return Playout::Concealment { lost: false };
            }
            self.stats.played += 1;
            return self.frame(h);
        }
    }

    fn frame(&self, h: Held) -> Playout<'_> {
        Playout::Frame {
            seq: h.seq,
            timestamp: h.timestamp,
            payload: &self.scratch[..h.len],
        }
    }

    fn set_play_head(&mut self, v: u64) {
        self.play_head = v;
        self.shared.play_head.store(v, Ordering::Release);
    }

    /// Leaves buffering once `target` frames are stored, starting at the
    /// oldest stored packet (so reordered first packets still play).
    fn try_start(&mut self, high: u64) -> bool {
        if high == 0 {
            return false;
        }
        let lowest = self
            .shared
            .slots
            .iter()
            .filter_map(|s| full_index(s.tag.load(Ordering::Acquire)))
            .filter(|&v| v >= self.play_head && v < high)
            .min();
        let Some(lowest) = lowest else {
            return false;
        };
        let target = u64::from(self.target);
        if high - lowest < target {
            return false;
        }
        // A backlog above the target is trimmed later, in silence or by skip.
        self.avg_depth_q8 = self.target << 8;
        self.set_play_head(lowest);
        self.playing = true;
        true
    }

    /// Claims slot `v`, copying its frame to scratch; cleans a stale slot.
    fn take(&mut self, v: u64) -> Option<Held> {
        let slot = self.shared.slot(v);
        let tag = slot.tag.load(Ordering::Acquire);
        match full_index(tag) {
            Some(u) if u == v => {
                slot.tag
                    .compare_exchange(tag, BUSY, Ordering::Acquire, Ordering::Relaxed)
                    .ok()?;
                let scratch = &mut self.scratch;
                let bytes = self.shared.payload_ptr(v);
                let held = slot.data.with(|d| {
                    // SAFETY: our CAS made the slot BUSY; the producer does
                    // not write its data or payload bytes until we store
                    // EMPTY. `len` is at most `max_payload`, the slot's
                    // share of `payloads`.
                    let d = unsafe { &*d };
                    let len = usize::from(d.len);
                    let bytes = unsafe { std::slice::from_raw_parts(bytes, len) };
                    scratch[..len].copy_from_slice(bytes);
                    Held {
                        seq: d.seq,
                        timestamp: d.timestamp,
                        len,
                    }
                });
                slot.tag.store(EMPTY, Ordering::Release);
                Some(held)
            }
            Some(u) if u < v => {
                // Losing this race to the producer's eviction is harmless.
                let _ = slot
                    .tag
                    .compare_exchange(tag, EMPTY, Ordering::AcqRel, Ordering::Relaxed);
                None
            }
            _ => None,
        }
    }

    /// Grows the target at once on jitter, late packets or underrun; shrinks
    /// it one frame at a time after a long calm.
    fn adapt_target(&mut self) {
        let c = &self.config;
        let jitter = self.shared.jitter.load(Ordering::Relaxed);
        let frame = u64::from(c.frame_samples);
        // A uniform delay spread of X gives a mean |D| of X/3 (RFC 3550 J).
        let wanted = (3 * jitter).div_ceil(frame) + 1;
        let wanted = (wanted.min(u64::from(c.max_delay_frames)) as u32).max(c.min_delay_frames);
        let late = self.shared.counters.late.load(Ordering::Relaxed);
        if late > self.seen_late {
            self.seen_late = late;
            self.target = (self.target + 1).min(c.max_delay_frames);
        }
        if wanted > self.target {
            self.target = wanted;
            self.shrink_ticks = 0;
        } else if wanted < self.target {
            self.shrink_ticks += 1;
            if self.shrink_ticks >= c.shrink_after_ticks {
                self.target -= 1;
                self.shrink_ticks = 0;
            }
        } else {
            self.shrink_ticks = 0;
        }
    }

    /// Counters of both halves and the current target delay.
    pub fn stats(&self) -> JitterStats {
        let s = self.stats;
        JitterStats {
            played: s.played,
            concealed: s.concealed,
            inserted: s.inserted,
            dropped: s.dropped,
            underruns: s.underruns,
            skipped: s.skipped,
            target_frames: self.target,
            ..self.shared.snapshot()
        }
    }

    /// Current adaptive target delay, in frames.
    pub fn target_frames(&self) -> u32 {
        self.target
    }
}
