//! The receive half of a session: datagrams in, symmetric RTP latching,
//! RTCP in, playout of 20 ms per tick, DTMF detection and recording.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::config::{DtmfDetectMode, DtmfSource, LatchPolicy, SessionEvent};
use super::{
    rx_jitter_config, rx_unit_ok, MediaSession, FRAME_SAMPLES, MAX_RX_REBUILDS, RX_SWITCH_AFTER,
};
use crate::dtmf::{DtmfEnd, DtmfReceiverConfig};
use crate::goertzel::InbandDigit;
use crate::jitter::{JitterBuffer, Playout};
use crate::rtcp::{ReceiverStats, RtcpCompound, RtcpPacket};
use crate::rtp::{RtpPacket, RTP_VERSION};

/// RFC 5761 section 4: a second byte of 192-223 is an RTCP packet type
/// (SR 200, RR 201, ...); RTP never uses those payload types with a
/// marker, so RTP and RTCP can share a port.
fn looks_like_rtcp(datagram: &[u8]) -> bool {
    datagram.len() >= 2 && (192..=223).contains(&datagram[1])
}

/// Whether tones in the audio are listened to, given the mode, whether
/// telephone-event was negotiated and whether an RFC 4733 event has
/// arrived. Once false it stays false: the session then drops its
/// detector.
pub(super) fn listens_inband(mode: DtmfDetectMode, te: bool, rfc4733_heard: bool) -> bool {
    match mode {
        DtmfDetectMode::Auto => !te || !rfc4733_heard,
        DtmfDetectMode::Negotiated => !te,
        DtmfDetectMode::Rfc4733Only => false,
        DtmfDetectMode::InbandOnly | DtmfDetectMode::Both => true,
    }
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let w = b.get(at..at + 4)?;
    Some(u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
}

impl MediaSession {
    /// Would this session take the datagram? For drivers that route one
    /// socket's datagrams to many sessions: a known SSRC from an allowed
    /// address, or, before the peer's SSRC is known, the SDP's address
    /// (its IP, under first-packet latching). A NATed peer whose address
    /// differs from its SDP can only be routed by a socket of its own.
    pub fn accepts(&self, from: SocketAddr, datagram: &[u8]) -> bool {
        if datagram.first().map(|b| b >> 6) != Some(RTP_VERSION) {
            return false;
        }
        if looks_like_rtcp(datagram) {
            let ssrc = be32(datagram, 4);
            return (ssrc.is_some() && ssrc == self.remote_ssrc)
                || from.ip() == self.destination.ip()
                || from.ip() == self.config.remote.ip();
        }
        let Some(ssrc) = be32(datagram, 8) else {
            return false;
        };
        if self.remote_ssrc == Some(ssrc) {
            return self.source_allowed(from);
        }
        match (self.config.latch, self.latched) {
            (LatchPolicy::SdpAddressOnly, _) => from == self.config.remote,
            (LatchPolicy::FirstPacket, Some(l)) => from == l,
            (LatchPolicy::FirstPacket, None) => from.ip() == self.config.remote.ip(),
        }
    }

    fn source_allowed(&self, from: SocketAddr) -> bool {
        match self.config.latch {
            LatchPolicy::SdpAddressOnly => from == self.config.remote,
            LatchPolicy::FirstPacket => self.latched.is_none_or(|l| l == from),
        }
    }

    /// Takes one datagram (RTP or RTCP) that arrived at `now` from `from`.
    /// Anything malformed or unexpected is counted and dropped.
    pub fn handle_receive(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.now = self.now.max(now);
        if self.closed {
            return;
        }
        if looks_like_rtcp(datagram) {
            self.receive_rtcp(now, from, datagram);
            return;
        }
        let Ok(packet) = RtpPacket::parse(datagram) else {
            self.stats.malformed += 1;
            return;
        };
        let pt = packet.payload_type;
        let is_audio = pt == self.config.payload_type;
        let is_event = self.config.telephone_event == Some(pt);
        // Only packets we can use may latch, so stray junk cannot steer
        // our stream.
        if !is_audio && !is_event {
            self.stats.unknown_payload_type += 1;
            return;
        }
        if !self.source_allowed(from) {
            self.stats.rejected_source += 1;
            return;
        }
        if self.config.latch == LatchPolicy::FirstPacket && self.latched.is_none() {
            self.latched = Some(from);
            self.destination = from;
            self.events.push_back(SessionEvent::RemoteLatched(from));
        }
        self.last_rx = now;
        self.inactive_reported = false;
        self.stats.packets_received += 1;
        self.stats.bytes_received += packet.payload.len() as u64;
        if self.remote_ssrc != Some(packet.ssrc) {
            self.remote_ssrc = Some(packet.ssrc);
            self.rx_stats = Some(ReceiverStats::new(
                packet.ssrc,
                packet.sequence,
                self.codec.clock_rate(),
            ));
            self.audio_base_ts = None;
        }
        if let Some(rx) = self.rx_stats.as_mut() {
            rx.on_packet(now, packet.sequence, packet.timestamp);
        }
        if is_audio {
            let Some(units) = self.codec.packet_units(packet.payload) else {
                self.stats.codec_errors += 1;
                return;
            };
            self.follow_packet_length(units, packet.payload.len());
            // Telephone-event packets share the sequence space, so audio
            // sequence numbers have holes while a key is sent; number the
            // packets by timestamp instead, which counts exactly one per
            // packet length of audio.
            let base = *self.audio_base_ts.get_or_insert(packet.timestamp);
            let offset = packet.timestamp.wrapping_sub(base) as i32;
            let frame = offset.div_euclid(self.rx_unit as i32) as u16;
            self.producer
                .push(now, packet.ssrc, frame, packet.timestamp, packet.payload);
        } else if self.config.dtmf_detect == DtmfDetectMode::InbandOnly {
            // Told not to believe events: they still kept the stream alive
            // and were counted as received above.
        } else {
            let r = self.dtmf_rx.handle_packet(
                now,
                packet.timestamp,
                packet.marker,
                packet.sequence,
                packet.payload,
            );
            if r.is_err() {
                self.stats.malformed += 1;
            } else {
                // The peer signals keys out of band: in `Auto`, tones in
                // its audio are no longer listened to, for good.
                self.rfc4733_heard = true;
                if !self.listens_inband() {
                    self.detector = None;
                }
            }
            self.drain_rfc4733(now);
        }
    }

    /// Makes the jitter buffer's frame the packet length the peer sends:
    /// at once for the first packet, after a few in a row later on, and at
    /// once too for a packet the current slots cannot hold (they are sized
    /// to the packet length, so a longer packet would be lost).
    fn follow_packet_length(&mut self, units: u32, payload_len: usize) {
        if units == self.rx_unit {
            self.rx_switch = None;
            return;
        }
        let clock_rate = self.codec.clock_rate();
        if !rx_unit_ok(units, clock_rate) || self.rx_rebuilds >= MAX_RX_REBUILDS {
            // Played anyway: the playout takes every sample a packet holds.
            return;
        }
        // Nothing of this stream is buffered yet: follow it at once.
        let first = self.audio_base_ts.is_none();
        let seen = match self.rx_switch {
            Some((u, n)) if u == units => n + 1,
            _ => 1,
        };
        let fits = payload_len
            <= rx_jitter_config(&self.config.jitter, clock_rate, self.rx_unit).max_payload;
        if !first && fits && seen < RX_SWITCH_AFTER {
            self.rx_switch = Some((units, seen));
            return;
        }
        let config = rx_jitter_config(&self.config.jitter, clock_rate, units);
        let packet_max = self.codec.max_packet_samples(config.max_payload);
        // The config passed validation at construction with the same
        // bounds; rescaling keeps it valid, but a failure must not end the
        // call: keep the old buffer then.
        let Ok((producer, consumer)) = JitterBuffer::new(config) else {
            return;
        };
        // What the old buffer holds is decoded now, ahead of its tick, so
        // following the new length loses none of the audio already here.
        while self.rx_queue.len() - self.rx_fill >= self.rx_packet_max {
            if !self.decode_next() {
                break;
            }
        }
        if packet_max > self.rx_packet_max {
            let mut queue = vec![0; self.rx_fill + FRAME_SAMPLES + packet_max].into_boxed_slice();
            queue[..self.rx_fill].copy_from_slice(&self.rx_queue[..self.rx_fill]);
            self.rx_queue = queue;
        }
        self.rx_packet_max = packet_max.max(self.rx_packet_max);
        let old = self.consumer.stats();
        self.rx_carry.0 += old.late;
        self.rx_carry.1 += old.concealed;
        self.producer = producer;
        self.consumer = consumer;
        self.rx_unit = units;
        self.rx_switch = None;
        self.rx_rebuilds += 1;
        self.audio_base_ts = None;
    }

    fn receive_rtcp(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        let Ok(compound) = RtcpCompound::parse(datagram) else {
            self.stats.malformed += 1;
            return;
        };
        let allowed = match self.config.latch {
            LatchPolicy::SdpAddressOnly => from.ip() == self.config.remote.ip(),
            LatchPolicy::FirstPacket => {
                from.ip() == self.destination.ip() || from.ip() == self.config.remote.ip()
            }
        };
        if !allowed {
            self.stats.rejected_source += 1;
            return;
        }
        self.stats.rtcp_received += 1;
        let separate_port = !self.config.rtcp_mux;
        if separate_port
            && self.config.latch == LatchPolicy::FirstPacket
            && self.rtcp_latched.is_none()
        {
            self.rtcp_latched = Some(from);
        }
        for p in compound.packets() {
            if let RtcpPacket::SenderReport { ssrc, info, .. } = p {
                if let Some(rx) = self.rx_stats.as_mut().filter(|rx| rx.ssrc() == ssrc) {
                    rx.on_sender_report(now, info.ntp_timestamp);
                }
            }
        }
    }

    /// Reports finished RFC 4733 presses.
    pub(super) fn drain_rfc4733(&mut self, now: Instant) {
        while let Some(d) = self.dtmf_rx.poll_digit() {
            let rate = u64::from(self.codec.clock_rate());
            let length = Duration::from_micros(u64::from(d.duration) * 1_000_000 / rate);
            // A press finished by timeout ended about a timeout ago.
            let end = match d.end {
                DtmfEnd::Timeout => now
                    .checked_sub(DtmfReceiverConfig::default().timeout)
                    .unwrap_or(now),
                _ => now,
            };
            let start = end.checked_sub(length).unwrap_or(end);
            self.report_digit(now, d.digit, DtmfSource::Rfc4733, start, end);
        }
    }

    fn report_digit(
        &mut self,
        now: Instant,
        digit: char,
        source: DtmfSource,
        start: Instant,
        end: Instant,
    ) {
        if !self.dedup.is_new(digit, source, start, end) {
            return;
        }
        self.events.push_back(SessionEvent::Dtmf {
            digit,
            source,
            at: now,
        });
        if self.recorder.is_some() && self.config.recording_stop_keys.contains(digit) {
            self.stop_recording();
        }
    }

    /// Should tones in the audio be listened to now?
    fn listens_inband(&self) -> bool {
        listens_inband(
            self.config.dtmf_detect,
            self.config.telephone_event.is_some(),
            self.rfc4733_heard,
        )
    }

    /// Decodes packets from the jitter buffer until a tick's worth of
    /// samples is queued (or the buffer has nothing to give). False if the
    /// queue is empty: nothing was heard.
    fn refill(&mut self) -> bool {
        while self.rx_fill < FRAME_SAMPLES {
            if !self.decode_next() {
                break;
            }
        }
        self.rx_fill > 0
    }

    /// Pops one packet (or its concealment) and appends its samples to the
    /// queue; false if the jitter buffer had nothing to give.
    fn decode_next(&mut self) -> bool {
        let unit_samples = self.codec.samples_in(self.rx_unit).max(1);
        let space = &mut self.rx_queue[self.rx_fill..];
        let n = match self.consumer.pop(&mut self.silence) {
            Playout::Frame { payload, .. } => match self.codec.decode(payload, space) {
                Some(n) => n,
                None => {
                    // A payload the decoder refuses plays as silence: a
                    // peer's fault, counted, never fatal.
                    self.stats.codec_errors += 1;
                    let n = unit_samples.min(space.len());
                    space[..n].fill(0);
                    n
                }
            },
            Playout::Concealment { .. } => {
                let n = unit_samples.min(space.len());
                self.codec.conceal(&mut space[..n]);
                n
            }
            Playout::Empty => return false,
        };
        self.rx_fill += n;
        true
    }

    /// Plays out one tick: decode, look for tones, record.
    pub(super) fn playout(&mut self, now: Instant) {
        let heard = self.refill();
        let take = self.rx_fill.min(FRAME_SAMPLES);
        // This tick's audio, for the detector and the recorder only: kept
        // on the stack rather than in every call.
        let mut pcm = [0i16; FRAME_SAMPLES];
        pcm[..take].copy_from_slice(&self.rx_queue[..take]);
        self.rx_queue.copy_within(take..self.rx_fill, 0);
        self.rx_fill -= take;
        if let Some(detector) = self.detector.as_deref_mut().filter(|_| heard) {
            let mut found = [None::<InbandDigit>; 4];
            let mut n = 0;
            detector.process(&pcm, |d| {
                if n < found.len() {
                    found[n] = Some(d);
                    n += 1;
                }
            });
            self.detector_samples += pcm.len() as u64;
            // Audio is played out a buffer's delay after it arrived;
            // the dedup compares arrival times.
            let unit_us = u64::from(self.rx_unit) * 1_000_000 / u64::from(self.codec.clock_rate());
            let delay = Duration::from_micros(unit_us * u64::from(self.consumer.target_frames()));
            for d in found.iter().take(n).flatten() {
                let ago = self.detector_samples.saturating_sub(d.start);
                let played = now
                    .checked_sub(Duration::from_micros(ago * 125))
                    .unwrap_or(now);
                let start = played.checked_sub(delay).unwrap_or(played);
                let end = start + self.config.detector.min_duration;
                self.report_digit(now, d.digit, DtmfSource::InBand, start, end);
            }
        }
        if let Some(r) = self.recorder.as_mut() {
            if r.push(now, &pcm).is_some() {
                self.finish_recording();
            }
        }
    }
}
