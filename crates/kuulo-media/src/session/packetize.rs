//! Sending G.711 at the packet time the peer asked for (10 to 60 ms).
//!
//! Prompts, tones and silence are made in 20 ms frames, as for every
//! session; a G.711 frame is one byte per sample, so packets of any
//! length are cut from those frames without re-encoding. The packets go
//! out on their own clock, one every packet time, and the frames are
//! made just ahead of the packet that needs them. Opus and 20 ms sessions
//! never come here: their frame is their packet.

use std::time::{Duration, Instant};

use super::config::{IdleMode, SessionEvent};
use super::{periods_to_skip, MediaSession, FRAME_SAMPLES};
use crate::dtmf::DtmfPacket;

/// Longest packet time sent: 60 ms of G.711 keeps a packet (492 bytes
/// with its header) inside the session's datagram buffers.
pub(super) const MAX_SEND_PTIME_MS: u32 = 60;
/// Bytes the packetizer holds: a longest packet plus the frame that
/// overflowed it.
pub(super) const ACC_BYTES: usize = (MAX_SEND_PTIME_MS as usize) * 8 + FRAME_SAMPLES;

/// The packet time to send at: for G.711 the peer's `a=ptime` when it is
/// a multiple of 10 ms that fits a packet, else 20 ms, in either case
/// shortened to the peer's `a=maxptime` (to a multiple of 10 ms); always
/// 20 ms for Opus, whose prompt frames are 20 ms packets.
pub(super) fn send_ptime_ms(g711: bool, ptime: Option<u32>, maxptime: Option<u32>) -> u32 {
    if !g711 {
        return 20;
    }
    let wanted = match ptime {
        Some(ms) if ms % 10 == 0 && (10..=MAX_SEND_PTIME_MS).contains(&ms) => ms,
        _ => 20,
    };
    match maxptime {
        Some(max) if max < wanted => (max / 10 * 10).max(10),
        _ => wanted,
    }
}

impl MediaSession {
    /// Sends the packets due at `now` on the packet clock, skipping ahead
    /// (like the tick clock) when the driver woke far too late.
    pub(super) fn run_send_clock(&mut self, now: Instant, until: Instant) {
        let interval = self.send_interval;
        if let Some(skip) = periods_to_skip(now, self.next_send, interval) {
            self.next_send += interval * skip;
            self.send_ts = self
                .send_ts
                .wrapping_add(self.ptime_units.wrapping_mul(skip));
            self.acc_len = 0;
            self.marker = true;
            self.last_send = None;
        }
        while self.next_send <= until {
            if self.config.direction.sends() {
                self.send_packet(now);
            }
            self.send_ts = self.send_ts.wrapping_add(self.ptime_units);
            self.next_send += interval;
        }
    }

    /// One packet of the packet time, from frames made as needed; a
    /// shorter one where a talk spurt ends.
    fn send_packet(&mut self, now: Instant) {
        let want = self.ptime_units as usize;
        if self.acc_len == 0 {
            self.acc_ts = self.send_ts;
        }
        while self.acc_len < want {
            let ts = self.acc_ts.wrapping_add(self.acc_len as u32);
            if !self.make_frame(ts) {
                break;
            }
        }
        let n = self.acc_len.min(want);
        let sent = n > 0 && {
            // Lent out while `send_rtp` borrows the session; taking an
            // empty box in its place allocates nothing.
            let acc = std::mem::take(&mut self.acc);
            let sent = self.send_rtp(
                self.config.payload_type,
                self.marker,
                self.acc_ts,
                &acc[..n],
            );
            self.acc = acc;
            sent
        };
        self.acc.copy_within(n..self.acc_len, 0);
        self.acc_len -= n;
        self.acc_ts = self.acc_ts.wrapping_add(n as u32);
        if sent {
            self.marker = false;
            if let Some(last) = self.last_send {
                let interval = now.saturating_duration_since(last);
                self.stats
                    .send_interval
                    .record(interval.abs_diff(self.send_interval));
            }
            self.last_send = Some(now);
        } else {
            self.marker = true;
            self.last_send = None;
        }
    }

    /// Appends the 20 ms frame for media time `ts` (a tone, the prompt or
    /// silence) and sends the telephone-events due by then; false if the
    /// session has nothing to send.
    fn make_frame(&mut self, ts: u32) -> bool {
        let mut due = [None::<DtmfPacket>; 4];
        let mut n_due = 0;
        let mut pcm = [0i16; FRAME_SAMPLES];
        let tone = self.dtmf_out.tick(ts, &mut pcm, |p| {
            if n_due < due.len() {
                due[n_due] = Some(*p);
                n_due += 1;
            }
        });
        self.tone_on = tone;
        let at = self.acc_len;
        let out = &mut self.acc[at..at + FRAME_SAMPLES];
        let wrote = if tone {
            // G.711 encoding cannot fail.
            self.codec.encode(&pcm, out).is_some()
        } else if let Some((prompt, index)) = self.playing.take() {
            let wrote = match prompt.frame(index) {
                Some(frame) if frame.len() == FRAME_SAMPLES => {
                    out.copy_from_slice(frame);
                    true
                }
                _ => false,
            };
            if index + 1 < prompt.frame_count() {
                self.playing = Some((prompt, index + 1));
            } else {
                self.events.push_back(SessionEvent::PlaybackFinished);
            }
            wrote
        } else if self.config.idle == IdleMode::Silence {
            out.copy_from_slice(&self.codec.silence()[..FRAME_SAMPLES]);
            true
        } else {
            false
        };
        if wrote {
            self.acc_len += FRAME_SAMPLES;
        }
        if let Some(pt) = self.config.telephone_event {
            for p in due.iter().take(n_due).flatten() {
                self.send_rtp(pt, p.marker, p.timestamp, &p.payload);
            }
        }
        wrote
    }

    /// The packet clock's interval.
    pub(super) fn packet_interval(ptime_ms: u32) -> Duration {
        Duration::from_millis(u64::from(ptime_ms))
    }
}
