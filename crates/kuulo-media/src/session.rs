//! [`MediaSession`]: the media of one call as a sans-IO state machine.
//!
//! # Run loop
//!
//! The session opens no socket and reads no clock. Its driver (one shard
//! task driving many calls off a shared clock) follows one contract:
//!
//! 1. Feed input: every datagram for this call to
//!    [`handle_receive`](MediaSession::handle_receive), and
//!    [`handle_timeout`](MediaSession::handle_timeout) once the instant from
//!    [`poll_timeout`](MediaSession::poll_timeout) has come. API calls
//!    ([`play`](MediaSession::play), [`send_dtmf`](MediaSession::send_dtmf),
//!    ...) are input too.
//! 2. After each input, drain [`poll_transmit`](MediaSession::poll_transmit)
//!    (send each datagram; it is lent from a fixed buffer, so nothing is
//!    allocated per packet) and [`poll_event`](MediaSession::poll_event).
//! 3. Sleep until [`poll_timeout`](MediaSession::poll_timeout); `None` means
//!    the session is closed.
//!
//! Every 20 ms tick plays 20 ms of received audio out of the jitter buffer
//! (into the in-band DTMF detector and the recorder) and sends one frame:
//! the prompt, a DTMF tone, or silence. A driver that routes datagrams from
//! one socket to many sessions asks [`accepts`](MediaSession::accepts).
//!
//! # Packet time
//!
//! The peer may send packets of any length from 10 to 120 ms (RFC 3551
//! asks receivers to take whatever the sender chose). The jitter buffer
//! holds whole packets, one per slot, sized for the length the peer
//! actually sends (learned from its packets, not from its SDP); the
//! playout decodes as many packets as the 20 ms tick needs into a small
//! sample queue and plays exactly 20 ms from it. G.711 goes out at the
//! packet time the peer asked for ([`SessionConfig::send_ptime`], 10 to
//! 60 ms), cut from the same 20 ms frames on a packet clock of its own;
//! Opus always goes out in 20 ms packets. docs/architecture.md, "Packet
//! time", says why.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dtmf::{key_to_event, DtmfPacket, DtmfReceiver, DtmfReceiverConfig};
use crate::goertzel::DtmfDetector;
use crate::jitter::{JitterBuffer, JitterConfig, JitterConsumer, JitterProducer};
use crate::prompt::{EncodedPrompt, FRAME_SAMPLES};
use crate::recording::{Recorder, RecordingConfig};
use crate::rtcp::{ntp_timestamp, ReceiverStats, RtcpWriter, SenderInfo};
use crate::rtp::RtpBuilder;

mod codec;
mod config;
mod dedup;
mod dtmf_out;
mod packetize;
mod receive;
mod stats;
mod transmit;

pub use config::{
    DtmfDetectMode, DtmfSendMode, DtmfSource, IdleMode, LatchPolicy, SessionConfig, SessionError,
    SessionEvent,
};
pub use stats::{IntervalHistogram, SessionStats};
pub use transmit::{PacketKind, Transmit, MAX_DATAGRAM};

use codec::{Codec, RxSilence};
pub use config::splitmix;
use dedup::Dedup;
use dtmf_out::DtmfOut;
use packetize::{send_ptime_ms, ACC_BYTES};
use transmit::{g711_datagram_bound, TransmitQueue};

/// The send and playout clock.
pub const TICK: Duration = Duration::from_millis(20);
/// A driver this many ticks late skips the missed ticks instead of sending
/// a burst the peer's jitter buffer would have to absorb.
const MAX_CATCH_UP: u32 = 3;
/// Events queued without allocating. A driver drains them after every
/// input, and one input raises a few at most (a catch-up of three ticks
/// with a key, a prompt's end and a recording's); more only grow the
/// queue.
const EVENT_CAPACITY: usize = 8;
/// Times a session rebuilds its jitter buffer for a new packet length.
/// The first packet may cost one; a peer that keeps changing its packet
/// length is played at the last length rather than allowed to make the
/// session allocate on every change.
const MAX_RX_REBUILDS: u8 = 4;
/// Packets of a new length in a row that make the buffer follow it: one
/// odd packet (a gateway's splice) must not flush the buffer.
const RX_SWITCH_AFTER: u8 = 2;

/// The media of one call: RTP out and in, RTCP, DTMF both ways, prompts
/// and recording. See the [module documentation](self) for the run loop.
pub struct MediaSession {
    config: SessionConfig,
    codec: Codec,
    /// RTP timestamp units per 20 ms: 160, or 960 for Opus.
    frame_ts: u32,
    /// RTP timestamp units in one received packet: the jitter buffer's
    /// frame.
    rx_unit: u32,
    /// A new packet length and how many packets in a row had it.
    rx_switch: Option<(u32, u8)>,
    rx_rebuilds: u8,
    /// Late and concealed counts of jitter buffers replaced by a rebuild.
    rx_carry: (u64, u64),
    /// Decoded samples waiting for their tick: room for less than a tick
    /// left over plus the longest packet the jitter buffer holds.
    rx_queue: Box<[i16]>,
    /// 8 kHz samples in the longest packet the jitter buffer holds.
    rx_packet_max: usize,
    rx_fill: usize,
    /// An RFC 4733 event arrived: [`DtmfDetectMode::Auto`] stops listening
    /// for tones.
    rfc4733_heard: bool,
    /// Audio goes out on its own packet clock (G.711 at a ptime other
    /// than 20 ms) instead of one frame per tick.
    packetize: bool,
    send_interval: Duration,
    /// RTP timestamp units per sent packet.
    ptime_units: u32,
    next_send: Instant,
    /// RTP timestamp of the next packet on the packet clock.
    send_ts: u32,
    /// G.711 bytes made but not yet sent, and the timestamp of the first:
    /// [`ACC_BYTES`] on a packet clock of its own, empty (no allocation)
    /// for the usual session whose frame is its packet.
    acc: Box<[u8]>,
    acc_len: usize,
    acc_ts: u32,
    now: Instant,
    next_tick: Instant,
    closed: bool,

    seq: u16,
    timestamp: u32,
    marker: bool,
    sent_since_report: bool,
    sr_packets: u32,
    sr_octets: u32,
    last_send: Option<Instant>,
    playing: Option<(Arc<EncodedPrompt>, usize)>,
    dtmf_out: DtmfOut,
    tone_on: bool,

    destination: SocketAddr,
    latched: Option<SocketAddr>,
    rtcp_latched: Option<SocketAddr>,

    remote_ssrc: Option<u32>,
    rx_stats: Option<ReceiverStats>,
    audio_base_ts: Option<u32>,
    producer: JitterProducer,
    consumer: JitterConsumer,
    silence: RxSilence,
    dtmf_rx: DtmfReceiver,
    /// Only while tones may still be listened to: a session that never
    /// listens (or stops, in [`DtmfDetectMode::Auto`], at its peer's first
    /// RFC 4733 event) holds none of its 1 KiB of state.
    detector: Option<Box<DtmfDetector>>,
    detector_samples: u64,
    dedup: Dedup,
    last_rx: Instant,
    inactive_reported: bool,
    /// Boxed: a session holds no recorder most of its life, and starting
    /// one allocates (its samples) anyway.
    recorder: Option<Box<Recorder>>,

    next_rtcp: Instant,
    rng: u64,

    tx: TransmitQueue,
    events: VecDeque<SessionEvent>,
    stats: SessionStats,
}

impl MediaSession {
    /// A session whose first tick is at `now`.
    pub fn new(now: Instant, config: SessionConfig) -> Result<Self, SessionError> {
        let codec = Codec::new(config.codec)?;
        let frame_ts = codec.frame_units();
        let clock_rate = codec.clock_rate();
        // Until a packet shows otherwise, expect the length the peer asked
        // us to send: most peers send what they ask for.
        let rx_unit = config
            .remote_ptime
            .map(|ms| ms * clock_rate / 1000)
            .filter(|&u| rx_unit_ok(u, clock_rate))
            .unwrap_or(frame_ts);
        let g711 = config.codec != crate::sdp::AudioCodec::Opus;
        let send_ptime = send_ptime_ms(g711, Some(config.send_ptime), None);
        let jitter = rx_jitter_config(&config.jitter, clock_rate, rx_unit);
        let rx_packet_max = codec.max_packet_samples(jitter.max_payload);
        let (producer, consumer) = JitterBuffer::new(jitter)?;
        let tx_slot_len = if g711 {
            g711_datagram_bound(
                (send_ptime * clock_rate / 1000) as usize,
                config.cname.len(),
            )
        } else {
            MAX_DATAGRAM
        };
        let mut rng = config.seed;
        // RFC 3550 6.2: the first report goes out after half an interval,
        // randomised like the rest.
        let first_rtcp = now + jittered(config.rtcp_interval / 2, &mut rng);
        Ok(MediaSession {
            silence: codec.silence_detector(),
            codec,
            frame_ts,
            rx_unit,
            rx_switch: None,
            rx_rebuilds: 0,
            rx_carry: (0, 0),
            rx_queue: vec![0; FRAME_SAMPLES + rx_packet_max].into_boxed_slice(),
            rx_packet_max,
            rx_fill: 0,
            rfc4733_heard: false,
            packetize: send_ptime != 20,
            send_interval: Self::packet_interval(send_ptime),
            ptime_units: send_ptime * clock_rate / 1000,
            next_send: now,
            send_ts: config.initial_timestamp,
            acc: if send_ptime != 20 {
                vec![0; ACC_BYTES].into_boxed_slice()
            } else {
                Box::default()
            },
            acc_len: 0,
            acc_ts: config.initial_timestamp,
            now,
            next_tick: now,
            closed: false,
            seq: config.initial_sequence,
            timestamp: config.initial_timestamp,
            marker: true,
            sent_since_report: false,
            sr_packets: 0,
            sr_octets: 0,
            last_send: None,
            playing: None,
            dtmf_out: DtmfOut::new(config.dtmf_duration, config.dtmf_gap, clock_rate),
            tone_on: false,
            destination: config.remote,
            latched: None,
            rtcp_latched: None,
            remote_ssrc: None,
            rx_stats: None,
            audio_base_ts: None,
            producer,
            consumer,
            dtmf_rx: DtmfReceiver::new(DtmfReceiverConfig {
                clock_rate,
                ..DtmfReceiverConfig::default()
            }),
            detector: receive::listens_inband(
                config.dtmf_detect,
                config.telephone_event.is_some(),
                false,
            )
            .then(|| Box::new(DtmfDetector::new(config.detector))),
            detector_samples: 0,
            dedup: Dedup::new(config.dtmf_dedup_slack),
            last_rx: now,
            inactive_reported: false,
            recorder: None,
            next_rtcp: first_rtcp,
            rng,
            tx: TransmitQueue::new(config.remote, tx_slot_len),
            events: VecDeque::with_capacity(EVENT_CAPACITY),
            stats: SessionStats::default(),
            config,
        })
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.config.ssrc
    }

    /// The peer's SSRC, once a packet has arrived.
    pub fn remote_ssrc(&self) -> Option<u32> {
        self.remote_ssrc
    }

    /// Where RTP goes now (the SDP address, or the latched one).
    pub fn destination(&self) -> SocketAddr {
        self.destination
    }

    /// The configuration the session was built with.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Starts playing a prompt from its first frame, replacing any other.
    pub fn play(&mut self, prompt: Arc<EncodedPrompt>) -> Result<(), SessionError> {
        if prompt.codec() != self.config.codec {
            return Err(SessionError::PromptCodec {
                prompt: prompt.codec(),
                session: self.config.codec,
            });
        }
        self.playing = Some((prompt, 0));
        Ok(())
    }

    /// Stops the prompt (barge-in); no `PlaybackFinished` follows.
    pub fn stop_playback(&mut self) {
        self.playing = None;
    }

    /// True while a prompt is playing.
    pub fn is_playing(&self) -> bool {
        self.playing.is_some()
    }

    /// Starts recording what the peer sends, ending any recording under
    /// way. A key in [`SessionConfig::recording_stop_keys`] stops it.
    pub fn start_recording(&mut self, config: RecordingConfig) {
        self.stop_recording();
        self.recorder = Some(Box::new(Recorder::new(self.now, config)));
    }

    /// Ends the recording, raising `RecordingFinished` with outcome
    /// `Stopped` (unless it had already ended).
    pub fn stop_recording(&mut self) {
        if let Some(mut r) = self.recorder.take() {
            r.stop();
            self.events
                .push_back(SessionEvent::RecordingFinished(r.finish()));
        }
    }

    /// True while recording.
    pub fn is_recording(&self) -> bool {
        self.recorder.is_some()
    }

    /// Queues a key to send, as the config's [`DtmfSendMode`] says. The
    /// first in-band key of an Opus session sets up its tone encoder.
    pub fn send_dtmf(&mut self, key: char) -> Result<(), SessionError> {
        key_to_event(key).map_err(|_| SessionError::InvalidKey(key))?;
        let te = self.config.telephone_event.is_some();
        let (rfc, inband) = match self.config.dtmf_send {
            DtmfSendMode::Auto => (te, !te),
            DtmfSendMode::Rfc4733 if !te => return Err(SessionError::NoTelephoneEvent),
            DtmfSendMode::Rfc4733 => (true, false),
            DtmfSendMode::InBand => (false, true),
            DtmfSendMode::Both => (te, true),
        };
        if inband {
            self.codec.prepare_tones()?;
        }
        if self.dtmf_out.enqueue(key, rfc, inband) {
            Ok(())
        } else {
            Err(SessionError::DtmfQueueFull)
        }
    }

    /// True while keys are being sent or wait to be.
    pub fn is_sending_dtmf(&self) -> bool {
        !self.dtmf_out.is_idle()
    }

    /// Runs every tick due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        if self.closed {
            return;
        }
        if let Some(skip) = periods_to_skip(now, self.next_tick, TICK) {
            self.next_tick += TICK * skip;
            self.timestamp = self
                .timestamp
                .wrapping_add(self.frame_ts.wrapping_mul(skip));
            self.marker = true;
            self.last_send = None;
            self.stats.ticks_skipped += u64::from(skip);
        }
        while self.next_tick <= now {
            self.tick(now);
            self.next_tick += TICK;
        }
        if self.packetize {
            self.run_send_clock(now, now);
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due; `None`
    /// once closed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let next = if self.packetize {
            self.next_tick.min(self.next_send)
        } else {
            self.next_tick
        };
        (!self.closed).then_some(next)
    }

    /// The next datagram to send, lent until the next call on the session.
    pub fn poll_transmit(&mut self) -> Option<Transmit<'_>> {
        self.tx.pop()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// Ends the session: an RTCP BYE is queued and no more ticks run.
    pub fn close(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        self.now = self.now.max(now);
        self.send_report(now, true);
        self.closed = true;
    }

    /// Counters so far.
    pub fn stats(&self) -> SessionStats {
        let jitter = self.consumer.stats();
        let mut s = self.stats;
        s.late = jitter.late + self.rx_carry.0;
        s.concealed = jitter.concealed + self.rx_carry.1;
        if let Some(rx) = &self.rx_stats {
            s.lost = rx.cumulative_lost();
            s.jitter = rx.jitter();
        }
        s
    }

    fn tick(&mut self, now: Instant) {
        self.playout(now);
        self.dtmf_rx.handle_timeout(now);
        self.drain_rfc4733(now);
        if self.config.direction.sends() && !self.packetize {
            self.send_tick(now);
        }
        self.timestamp = self.timestamp.wrapping_add(self.frame_ts);
        if self
            .recorder
            .as_mut()
            .and_then(|r| r.handle_timeout(now))
            .is_some()
        {
            self.finish_recording();
        }
        if self.config.direction.receives()
            && !self.inactive_reported
            && now.saturating_duration_since(self.last_rx) >= self.config.inactivity_timeout
        {
            self.inactive_reported = true;
            self.events.push_back(SessionEvent::Inactive);
        }
        if now >= self.next_rtcp {
            self.send_report(now, false);
            self.next_rtcp = now + jittered(self.config.rtcp_interval, &mut self.rng);
        }
    }

    fn finish_recording(&mut self) {
        if let Some(r) = self.recorder.take() {
            self.events
                .push_back(SessionEvent::RecordingFinished(r.finish()));
        }
    }

    fn send_tick(&mut self, now: Instant) {
        let ts = self.timestamp;
        let mut due = [None::<DtmfPacket>; 4];
        let mut n_due = 0;
        // Tone samples live for this tick only: no room for them in every
        // call.
        let mut pcm = [0i16; FRAME_SAMPLES];
        let tone = self.dtmf_out.tick(ts, &mut pcm, |p| {
            if n_due < due.len() {
                due[n_due] = Some(*p);
                n_due += 1;
            }
        });
        let mut sent_audio = false;
        if tone && !self.tone_on {
            self.codec.start_tone();
        }
        self.tone_on = tone;
        if tone {
            let mut encoded = [0u8; FRAME_SAMPLES];
            if let Some(n) = self.codec.encode(&pcm, &mut encoded) {
                let payload = &encoded[..n.min(encoded.len())];
                sent_audio = self.send_rtp(self.config.payload_type, self.marker, ts, payload);
            } else {
                self.stats.codec_errors += 1;
            }
        } else if let Some((prompt, index)) = self.playing.take() {
            if let Some(frame) = prompt.frame(index) {
                sent_audio = self.send_rtp(self.config.payload_type, self.marker, ts, frame);
            }
            if index + 1 < prompt.frame_count() {
                self.playing = Some((prompt, index + 1));
            } else {
                self.events.push_back(SessionEvent::PlaybackFinished);
            }
        } else if self.config.idle == IdleMode::Silence {
            let payload = self.codec.silence();
            sent_audio = self.send_rtp(self.config.payload_type, self.marker, ts, payload);
        }
        if sent_audio {
            self.marker = false;
            if let Some(last) = self.last_send {
                let interval = now.saturating_duration_since(last);
                self.stats.send_interval.record(interval.abs_diff(TICK));
            }
            self.last_send = Some(now);
        } else {
            self.marker = true;
            self.last_send = None;
        }
        if let Some(pt) = self.config.telephone_event {
            for p in due.iter().take(n_due).flatten() {
                self.send_rtp(pt, p.marker, p.timestamp, &p.payload);
            }
        }
    }

    /// Queues one RTP packet; false if it could not be queued.
    fn send_rtp(&mut self, pt: u8, marker: bool, ts: u32, payload: &[u8]) -> bool {
        let packet = RtpBuilder {
            marker,
            payload_type: pt,
            sequence: self.seq,
            timestamp: ts,
            ssrc: self.config.ssrc,
            csrc: &[],
            extension: None,
            payload,
            padding: 0,
        };
        let queued = self.tx.push(self.destination, PacketKind::Rtp, |buf| {
            packet.write_to(buf).ok()
        });
        if !queued {
            self.stats.transmit_overflow += 1;
            return false;
        }
        self.seq = self.seq.wrapping_add(1);
        self.sent_since_report = true;
        self.sr_packets = self.sr_packets.wrapping_add(1);
        self.sr_octets = self.sr_octets.wrapping_add(payload.len() as u32);
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += payload.len() as u64;
        true
    }

    fn rtcp_destination(&self) -> SocketAddr {
        if let Some(a) = self.rtcp_latched {
            return a;
        }
        if self.config.rtcp_mux {
            self.destination
        } else {
            let d = self.destination;
            SocketAddr::new(d.ip(), d.port().wrapping_add(1))
        }
    }

    /// Queues an SR (if we sent RTP since the last report) or RR with a
    /// CNAME, and a BYE when leaving.
    fn send_report(&mut self, now: Instant, bye: bool) {
        let block = self.rx_stats.as_mut().map(|s| s.report_block(now));
        let ntp = self.config.wall_clock.map_or(0, |(at, wall)| {
            ntp_timestamp(wall + now.saturating_duration_since(at))
        });
        let info = SenderInfo {
            ntp_timestamp: ntp,
            rtp_timestamp: self.timestamp,
            packet_count: self.sr_packets,
            octet_count: self.sr_octets,
        };
        let sender = self.sent_since_report;
        let ssrc = self.config.ssrc;
        let cname = self.config.cname.as_str();
        let destination = self.rtcp_destination();
        let queued = self.tx.push(destination, PacketKind::Rtcp, |buf| {
            let mut w = RtcpWriter::new(buf);
            let blocks = block.as_slice();
            if sender {
                w.sender_report(ssrc, &info, blocks).ok()?;
            } else {
                w.receiver_report(ssrc, blocks).ok()?;
            }
            w.sdes_cname(ssrc, cname).ok()?;
            if bye {
                w.bye(&[ssrc], None).ok()?;
            }
            Some(w.len())
        });
        if queued {
            self.stats.rtcp_sent += 1;
        } else {
            self.stats.transmit_overflow += 1;
        }
        self.sent_since_report = false;
    }
}

impl std::fmt::Debug for MediaSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaSession")
            .field("ssrc", &self.config.ssrc)
            .field("remote_ssrc", &self.remote_ssrc)
            .field("destination", &self.destination)
            .field("next_tick", &self.next_tick)
            .field("playing", &self.playing.is_some())
            .field("recording", &self.recorder.is_some())
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

/// How many whole `interval`s a clock due at `next` should jump when the
/// driver woke at `now`, [`MAX_CATCH_UP`] periods or more late: it skips
/// them rather than sending a burst of stale audio. `None` if it is
/// within that, and catches up by running each period.
fn periods_to_skip(now: Instant, next: Instant, interval: Duration) -> Option<u32> {
    let behind = now.saturating_duration_since(next);
    (behind >= interval * MAX_CATCH_UP).then(|| (behind.as_nanos() / interval.as_nanos()) as u32)
}

/// Packet lengths the receive path follows: 10 to 120 ms. Shorter packets
/// would need a ring of hundreds of slots for the same delay.
fn rx_unit_ok(units: u32, clock_rate: u32) -> bool {
    (clock_rate / 100..=clock_rate * 120 / 1000).contains(&units)
}

/// The jitter buffer for packets of `unit` timestamp units. The session's
/// [`JitterConfig`] counts 20 ms frames; here its delays, ring and slot
/// size are rescaled to packets of the real length, so the buffer holds
/// the same time and memory whatever the peer's packet time.
fn rx_jitter_config(base: &JitterConfig, clock_rate: u32, unit: u32) -> JitterConfig {
    let frame20 = u64::from(clock_rate / 50);
    let unit64 = u64::from(unit);
    let packets = |frames: u32| {
        let n = (u64::from(frames) * frame20).div_ceil(unit64).max(1);
        u32::try_from(n).unwrap_or(u32::MAX)
    };
    let min_delay_frames = packets(base.min_delay_frames);
    let max_delay_frames = packets(base.max_delay_frames).max(min_delay_frames);
    let slots = (base.capacity as u64 * frame20).div_ceil(unit64) as usize;
    let capacity = slots
        .max(2 * max_delay_frames as usize)
        .max(2)
        .next_power_of_two();
    let max_payload = (base.max_payload as u64 * unit64).div_ceil(frame20) as usize;
    JitterConfig {
        capacity,
        max_payload: max_payload.clamp(160, 1920),
        clock_rate,
        frame_samples: unit,
        min_delay_frames,
        max_delay_frames,
        shrink_after_ticks: packets(base.shrink_after_ticks),
        ..base.clone()
    }
}

/// `base` times a factor drawn uniformly from 0.5-1.5 (RFC 3550 6.3.1),
/// so sessions started together do not report in lockstep.
fn jittered(base: Duration, rng: &mut u64) -> Duration {
    let unit = (splitmix(rng) >> 11) as f64 / (1u64 << 53) as f64;
    base.mul_f64(0.5 + unit)
}
