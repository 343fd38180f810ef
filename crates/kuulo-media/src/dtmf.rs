//! RFC 4733 telephone events: the 4-byte payload, a receiver that turns
//! packets into one digit per key press, and a sender that turns a key press
//! into packets.
//!
//! Both machines are sans-IO: the receiver is fed packets and `now`, and is
//! polled for digits and for the instant at which a digit whose end packets
//! were all lost is finished anyway.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use thiserror::Error;

/// Why a telephone-event payload or request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DtmfError {
    /// The payload is not exactly 4 bytes.
    #[error("telephone-event payload must be 4 bytes, got {0}")]
    Length(usize),
    /// The event code is not a DTMF key (0-15).
    #[error("telephone-event {0} is not a DTMF key")]
    Event(u8),
    /// The character is not a DTMF key.
    #[error("{0:?} is not a DTMF key")]
    Key(char),
}

const KEYS: [char; 16] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D',
];

/// The key for an RFC 4733 event code (0-9, `*`=10, `#`=11, A-D=12-15).
pub fn event_to_key(event: u8) -> Result<char, DtmfError> {
    KEYS.get(usize::from(event))
        .copied()
        .ok_or(DtmfError::Event(event))
}

/// The RFC 4733 event code of a key; lower-case a-d are accepted.
pub fn key_to_event(key: char) -> Result<u8, DtmfError> {
    let upper = key.to_ascii_uppercase();
    KEYS.iter()
        .position(|&k| k == upper)
        .map(|i| i as u8)
        .ok_or(DtmfError::Key(key))
}

/// One RFC 4733 telephone-event payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code, 0-15 for DTMF.
    pub event: u8,
    /// E bit: this packet ends the event.
    pub end: bool,
    /// Power level in -dBm0, 0-63.
    pub volume: u8,
    /// Duration so far in timestamp units, from the event's RTP timestamp.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses a payload. Only DTMF events are accepted: they are all a
    /// survey negotiates (`telephone-event 0-15`).
    pub fn parse(payload: &[u8]) -> Result<Self, DtmfError> {
        let &[event, flags, d0, d1] = payload else {
            return Err(DtmfError::Length(payload.len()));
        };
        if event > 15 {
            return Err(DtmfError::Event(event));
        }
        Ok(Self {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// Serializes the payload; the reserved bit is sent as zero.
    pub fn to_bytes(&self) -> [u8; 4] {
        let [d0, d1] = self.duration.to_be_bytes();
        let end = if self.end { 0x80 } else { 0 };
        [self.event, end | (self.volume & 0x3F), d0, d1]
    }
}

/// How a received digit was known to have ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfEnd {
    /// An end packet arrived.
    EndPacket,
    /// No packet for the receiver's timeout: the end packets were lost.
    Timeout,
    /// Another event started before this one's end packets arrived.
    Superseded,
}

/// One key press, reported once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfDigit {
    /// The key: `0`-`9`, `*`, `#`, `A`-`D`.
    pub digit: char,
    /// RTP timestamp of the event's first segment.
    pub timestamp: u32,
    /// Length in timestamp units, over all segments of a long press.
    pub duration: u32,
    /// Power level in -dBm0.
    pub volume: u8,
    /// How the end was known.
    pub end: DtmfEnd,
}

/// Tuning of a [`DtmfReceiver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfReceiverConfig {
    /// RTP clock rate of the telephone-event format.
    pub clock_rate: u32,
    /// Silence after which an event without end packets is finished.
    pub timeout: Duration,
}

impl Default for DtmfReceiverConfig {
    fn default() -> Self {
        Self {
            clock_rate: 8000,
            timeout: Duration::from_millis(250),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Active {
    event: u8,
    first_ts: u32,
    /// Timestamp of the current segment (changes only on long presses).
    ts: u32,
    /// Duration of the segments before the current one.
    before: u32,
    duration: u16,
    volume: u8,
    last_seen: Instant,
}

impl Active {
    fn digit(&self, end: DtmfEnd) -> DtmfDigit {
        DtmfDigit {
            // `event` was checked by `TelephoneEvent::parse`.
            digit: event_to_key(self.event).unwrap_or('?'),
            timestamp: self.first_ts,
            duration: self.before.saturating_add(u32::from(self.duration)),
            volume: self.volume,
            end,
        }
    }
}

/// Turns received telephone-event packets into one [`DtmfDigit`] per press.
///
/// Events are told apart by RTP timestamp: continuation and the redundant
/// end packets share the event's timestamp; a second press of the same key
/// has a new one. After every input, drain [`DtmfReceiver::poll_digit`] and
/// wake at [`DtmfReceiver::poll_timeout`] to call `handle_timeout`.
#[derive(Debug)]
pub struct DtmfReceiver {
    config: DtmfReceiverConfig,
    active: Option<Active>,
    /// Segment timestamp of the newest event seen: anything at or before it
    /// that is not the active segment is a repeat or a straggler.
    newest_ts: Option<u32>,
    last_seq: Option<u16>,
    digits: VecDeque<DtmfDigit>,
}

/// Longest segment of a long press (RFC 4733 2.5.1.3).
const SEGMENT_MAX: u32 = 0xFFFF;

impl DtmfReceiver {
    /// A receiver with no event in progress.
    pub fn new(config: DtmfReceiverConfig) -> Self {
        Self {
            config,
            active: None,
            newest_ts: None,
            last_seq: None,
            digits: VecDeque::with_capacity(4),
        }
    }

    /// Feeds one packet of the telephone-event payload type.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        timestamp: u32,
        marker: bool,
        seq: u16,
        payload: &[u8],
    ) -> Result<(), DtmfError> {
        let ev = TelephoneEvent::parse(payload)?;
        if self.last_seq == Some(seq) {
            return Ok(());
        }
        self.last_seq = Some(seq);
        self.handle_timeout(now);
        if let Some(a) = self.active.as_mut() {
            if a.ts == timestamp && a.event == ev.event {
                a.duration = a.duration.max(ev.duration);
                a.last_seen = now;
                if ev.end {
                    self.finish(DtmfEnd::EndPacket);
                }
                return Ok(());
            }
            // A long press goes on under a timestamp one full segment
            // later; the tolerance admits senders that cut a segment at a
            // multiple of their packet interval.
            let step = timestamp.wrapping_sub(a.ts);
            let slack = (self.config.clock_rate / 5).min(SEGMENT_MAX / 2);
            let next_segment = !marker
                && a.event == ev.event
                && step >= u32::from(a.duration)
                && (SEGMENT_MAX - slack..=SEGMENT_MAX).contains(&step);
            if next_segment {
                a.before = a.before.saturating_add(step);
                a.ts = timestamp;
                a.duration = ev.duration;
                a.last_seen = now;
                self.newest_ts = Some(timestamp);
                if ev.end {
                    self.finish(DtmfEnd::EndPacket);
                }
                return Ok(());
            }
        }
        if self.is_stale(timestamp) {
            return Ok(());
        }
        self.finish(DtmfEnd::Superseded);
        self.newest_ts = Some(timestamp);
        self.active = Some(Active {
            event: ev.event,
            first_ts: timestamp,
            ts: timestamp,
            before: 0,
            duration: ev.duration,
            volume: ev.volume,
            last_seen: now,
        });
        if ev.end {
            self.finish(DtmfEnd::EndPacket);
        }
        Ok(())
    }

    /// True for repeats of ended events and reordered packets of older ones.
    /// A timestamp far behind (a minute or more) is a new clock, not stale.
    fn is_stale(&self, timestamp: u32) -> bool {
        self.newest_ts.is_some_and(|newest| {
            let behind = newest.wrapping_sub(timestamp);
            behind < self.config.clock_rate.saturating_mul(60)
        })
    }

    fn finish(&mut self, end: DtmfEnd) {
        if let Some(a) = self.active.take() {
            self.digits.push_back(a.digit(end));
        }
    }

    /// Finishes an event whose packets stopped without an end packet.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_some_and(|at| now >= at) {
            self.finish(DtmfEnd::Timeout);
        }
    }

    /// When `handle_timeout` must be called next, if an event is active.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.active.map(|a| a.last_seen + self.config.timeout)
    }

    /// The next finished key press.
    pub fn poll_digit(&mut self) -> Option<DtmfDigit> {
        self.digits.pop_front()
    }

    /// The key currently held down, if any (for barge-in on key down).
    pub fn active_key(&self) -> Option<char> {
        self.active.and_then(|a| event_to_key(a.event).ok())
    }
}

/// Tuning of a [`DtmfSender`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfSenderConfig {
    /// RTP clock rate of the telephone-event format.
    pub clock_rate: u32,
    /// Time between packets of one event, in timestamp units (160 = 20 ms
    /// at 8 kHz; 400 = 50 ms).
    pub interval: u32,
    /// Power level in -dBm0.
    pub volume: u8,
    /// How many times the end packet is sent (RFC 4733 suggests 3).
    pub end_packets: u8,
}

impl Default for DtmfSenderConfig {
    fn default() -> Self {
        Self {
            clock_rate: 8000,
            interval: 160,
            volume: 10,
            end_packets: 3,
        }
    }
}

/// One packet to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfPacket {
    /// When to send it, in timestamp units after the event starts: a packet
    /// goes out once the duration it reports has elapsed.
    pub offset: u32,
    /// RTP timestamp: the event's (or, past 0xFFFF units, the segment's).
    pub timestamp: u32,
    /// RTP marker: set on the first packet of the event only.
    pub marker: bool,
    /// The payload.
    pub payload: [u8; 4],
}

/// Turns key presses into telephone-event packets.
#[derive(Debug, Clone, Copy)]
pub struct DtmfSender {
    config: DtmfSenderConfig,
}

impl DtmfSender {
    /// A sender; an `interval` of 0 is taken as 1 timestamp unit.
    pub fn new(config: DtmfSenderConfig) -> Self {
        Self {
            config: DtmfSenderConfig {
                interval: config.interval.clamp(1, u32::from(u16::MAX)),
                ..config
            },
        }
    }

    /// Packets for `key` held for `duration`, starting at RTP `timestamp`.
    /// Durations shorter than one interval are sent as one interval.
    pub fn send(
        &self,
        key: char,
        duration: Duration,
        timestamp: u32,
    ) -> Result<DtmfPackets, DtmfError> {
        let event = key_to_event(key)?;
        let units = duration.as_nanos() * u128::from(self.config.clock_rate) / 1_000_000_000;
        // Capped so offsets and durations fit their u32 fields.
        let total = u64::try_from(units)
            .unwrap_or(u64::MAX)
            .clamp(u64::from(self.config.interval), u64::from(u32::MAX / 2));
        Ok(DtmfPackets {
            config: self.config,
            event,
            start: timestamp,
            total,
            elapsed: 0,
            sent: 0,
            ends_sent: 0,
        })
    }
}

/// The packets of one key press, in sending order.
#[derive(Debug, Clone)]
pub struct DtmfPackets {
    config: DtmfSenderConfig,
    event: u8,
    start: u32,
    total: u64,
    /// Duration reported by the last packet, from the first segment's start.
    elapsed: u64,
    sent: u32,
    ends_sent: u8,
}

/// Timestamp units in one segment of a long event (RFC 4733 2.5.1.3).
const SEGMENT: u64 = 0xFFFF;

impl Iterator for DtmfPackets {
    type Item = DtmfPacket;

    fn next(&mut self) -> Option<DtmfPacket> {
        let interval = u64::from(self.config.interval);
        let (offset, end) = if self.elapsed < self.total {
            // A packet never crosses a segment boundary, so the one closing
            // a segment reports exactly 0xFFFF.
            let boundary = (self.elapsed / SEGMENT + 1) * SEGMENT;
            self.elapsed = (self.elapsed + interval).min(self.total).min(boundary);
            (self.elapsed, self.elapsed == self.total)
        } else if self.ends_sent < self.config.end_packets.max(1) {
            // Repeated end packets go one interval apart, so a short loss
            // burst cannot take all of them.
            (self.total + u64::from(self.ends_sent) * interval, true)
        } else {
            return None;
        };
        if end {
            self.ends_sent += 1;
        }
        let segment = (self.elapsed - 1) / SEGMENT;
        let ev = TelephoneEvent {
            event: self.event,
            end,
            volume: self.config.volume,
            duration: (self.elapsed - segment * SEGMENT) as u16,
        };
        let marker = self.sent == 0;
        self.sent += 1;
        Some(DtmfPacket {
            offset: u32::try_from(offset).unwrap_or(u32::MAX),
            timestamp: self.start.wrapping_add((segment * SEGMENT) as u32),
            marker,
            payload: ev.to_bytes(),
        })
    }
}
