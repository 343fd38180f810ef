//! What a [`MediaSession`](super::MediaSession) is built from, and its
//! errors and events.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::goertzel::DetectorConfig;
use crate::jitter::{JitterConfig, JitterConfigError};
use crate::opus::{OpusError, OPUS_CLOCK_RATE, OPUS_FRAME_UNITS};
use crate::recording::Recording;
use crate::sdp::{AudioCodec, Direction, Negotiated};

/// Where RTP may come from and where ours goes (symmetric RTP, RFC 4961).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LatchPolicy {
    /// Send to the SDP's address and accept only packets from it: safe
    /// against hijack, but breaks for peers behind NAT.
    SdpAddressOnly,
    /// Accept the first valid RTP packet from anywhere, then send to where
    /// it came from and accept only that address: what phones behind NAT
    /// need. A hijacker would have to win the race against the real first
    /// packet, and cannot take over once latched.
    #[default]
    FirstPacket,
}

/// What goes out when no prompt or tone is playing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdleMode {
    /// Silence frames every 20 ms: keeps NAT bindings open and stops
    /// carriers that hang up on a silent stream.
    #[default]
    Silence,
    /// Nothing; the next talk spurt starts with the marker bit set.
    Nothing,
}

/// How [`MediaSession::send_dtmf`](super::MediaSession::send_dtmf) sends a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DtmfSendMode {
    /// RFC 4733 events if telephone-event was negotiated, tones otherwise.
    #[default]
    Auto,
    /// RFC 4733 events only (keys are refused if none was negotiated).
    Rfc4733,
    /// Tones in the audio.
    InBand,
    /// Both at once, as some gateways do (for testing de-duplication).
    Both,
}

/// Which ways of signalling a key the session listens to.
///
/// In-band detection is most of the receive path's work and the only way
/// speech can be mistaken for a key (talk-off), so a session that knows
/// its peer sends RFC 4733 events is better off without it. But some
/// trunks negotiate telephone-event and still send keys only as tones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DtmfDetectMode {
    /// RFC 4733 events always; tones while they may be the only signal:
    /// for the whole call if telephone-event was not negotiated, otherwise
    /// until the first RFC 4733 event arrives (the peer has then shown it
    /// signals keys out of band). A trunk that negotiates telephone-event
    /// but sends tones still works, and every other call stops paying for
    /// the detector at its first key.
    #[default]
    Auto,
    /// What Asterisk's `dtmf_mode=auto` and FreeSWITCH do: RFC 4733 only
    /// when telephone-event was negotiated, tones only when it was not.
    Negotiated,
    /// RFC 4733 events only; tones in the audio are not listened to.
    Rfc4733Only,
    /// Tones only; RFC 4733 events are counted and dropped.
    InbandOnly,
    /// Both, for the whole call, de-duplicated (a key sent both ways by a
    /// gateway is reported once).
    Both,
}

/// Everything a session needs; build it with [`SessionConfig::new`] from
/// the offer/answer result and adjust fields.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The codec: PCMU, PCMA or Opus.
    pub codec: AudioCodec,
    /// The codec's payload type on the wire.
    pub payload_type: u8,
    /// The telephone-event payload type, if negotiated.
    pub telephone_event: Option<u8>,
    /// Where the SDP says the peer's RTP goes.
    pub remote: SocketAddr,
    /// RTCP shares the RTP port (RFC 5761) instead of using port + 1.
    pub rtcp_mux: bool,
    /// May we send, receive, both or neither.
    pub direction: Direction,
    /// Symmetric RTP policy.
    pub latch: LatchPolicy,
    /// What to send when idle.
    pub idle: IdleMode,
    /// How keys are sent.
    pub dtmf_send: DtmfSendMode,
    /// Tone length of a sent key.
    pub dtmf_duration: Duration,
    /// Pause between sent keys.
    pub dtmf_gap: Duration,
    /// Which key signalling to listen to: RFC 4733 events, tones in the
    /// audio, or both.
    pub dtmf_detect: DtmfDetectMode,
    /// Packet time (ms) the peer asked for in its SDP, if any. Received
    /// packets of any length are played; this is only the first guess of
    /// their length.
    pub remote_ptime: Option<u32>,
    /// Packet time (ms) we send at: the peer's `a=ptime` for G.711 when it
    /// is 10, 20, 30, 40, 50 or 60, else 20, kept within its `a=maxptime`.
    /// A value the codec cannot send (anything but 20 for Opus, whose
    /// prompts are 20 ms packets; not a multiple of 10 ms; over 60 ms)
    /// sends 20 ms.
    pub send_ptime: u32,
    /// How far apart (in arrival time) an in-band and an RFC 4733 report
    /// of the same key may be and still be one press.
    pub dtmf_dedup_slack: Duration,
    /// Keys that end a recording under way (a `#` by default); the key is
    /// still reported as a digit.
    pub recording_stop_keys: String,
    /// No RTP for this long raises [`SessionEvent::Inactive`].
    pub inactivity_timeout: Duration,
    /// Nominal RTCP report interval (RFC 3550's 5 s minimum); each
    /// interval is randomised to 0.5-1.5 times this.
    pub rtcp_interval: Duration,
    /// RTCP canonical name.
    pub cname: String,
    /// Our SSRC.
    pub ssrc: u32,
    /// Sequence number of our first packet.
    pub initial_sequence: u16,
    /// RTP timestamp of our first packet.
    pub initial_timestamp: u32,
    /// Seed of the RTCP interval randomisation.
    pub seed: u64,
    /// Wall-clock time at an instant, for sender reports' NTP timestamps;
    /// `None` sends zero, which RFC 3550 6.4.1 allows.
    pub wall_clock: Option<(Instant, Duration)>,
    /// Receive buffer tuning. Its clock rate and frame size are set from
    /// the codec when the session is built.
    pub jitter: JitterConfig,
    /// In-band detector tuning.
    pub detector: DetectorConfig,
}

/// Largest received Opus packet kept: 20 ms at 256 kbit/s, far above what
/// any phone sends for speech, while every jitter slot stays small enough
/// for thousands of sessions.
const OPUS_MAX_PAYLOAD: usize = 640;

/// SplitMix64: spreads one seed into independent-looking values, so a
/// driver hands each session a single random number.
pub fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One 20 ms G.711 frame: 160 samples of one byte.
const G711_FRAME_BYTES: usize = 160;

impl SessionConfig {
    /// A config for what offer/answer agreed. `seed` should be random (it
    /// picks the SSRC, the first sequence number and timestamp, as RFC 3550
    /// asks, and the RTCP timing); the session itself reads no randomness.
    pub fn new(negotiated: &Negotiated, seed: u64) -> Self {
        let mut s = seed;
        let ssrc = splitmix(&mut s) as u32;
        let initial_sequence = splitmix(&mut s) as u16;
        let initial_timestamp = splitmix(&mut s) as u32;
        let mut jitter = JitterConfig::default();
        if negotiated.codec == AudioCodec::Opus {
            jitter.clock_rate = OPUS_CLOCK_RATE;
            jitter.frame_samples = OPUS_FRAME_UNITS;
            jitter.max_timestamp_jump = OPUS_CLOCK_RATE * 10;
            jitter.max_payload = OPUS_MAX_PAYLOAD;
        } else {
            // G.711 is a byte per sample: a slot holds exactly one packet
            // (the session resizes slots to the packet length it sees), so
            // no slot carries room it never uses; at 32 slots that is
            // 5 KiB a call.
            jitter.max_payload = G711_FRAME_BYTES;
        }
        SessionConfig {
            codec: negotiated.codec,
            payload_type: negotiated.payload_type,
            telephone_event: negotiated.telephone_event,
            remote: negotiated.remote,
            rtcp_mux: false,
            direction: negotiated.direction,
            latch: LatchPolicy::default(),
            idle: IdleMode::default(),
            dtmf_send: DtmfSendMode::default(),
            dtmf_duration: Duration::from_millis(100),
            dtmf_gap: Duration::from_millis(100),
            dtmf_detect: DtmfDetectMode::default(),
            remote_ptime: negotiated.remote_ptime,
            send_ptime: super::packetize::send_ptime_ms(
                negotiated.codec != AudioCodec::Opus,
                negotiated.remote_ptime,
                negotiated.remote_maxptime,
            ),
            dtmf_dedup_slack: Duration::from_millis(120),
            recording_stop_keys: "#".into(),
            inactivity_timeout: Duration::from_secs(30),
            rtcp_interval: Duration::from_secs(5),
            cname: format!("kuulo-{ssrc:08x}"),
            ssrc,
            initial_sequence,
            initial_timestamp,
            seed: splitmix(&mut s),
            wall_clock: None,
            jitter,
            detector: DetectorConfig::default(),
        }
    }
}

/// Why a session could not be built or a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SessionError {
    /// The codec has no encoder here (kept for codecs SDP may learn before
    /// the session does; PCMU, PCMA and Opus are all supported).
    #[error("codec {0:?} is not supported by the media session yet")]
    UnsupportedCodec(AudioCodec),
    /// The prompt is in another codec than the session.
    #[error("prompt is encoded as {prompt:?} but the session sends {session:?}")]
    PromptCodec {
        /// The prompt's codec.
        prompt: AudioCodec,
        /// The session's codec.
        session: AudioCodec,
    },
    /// The jitter buffer config is invalid.
    #[error(transparent)]
    Jitter(#[from] JitterConfigError),
    /// Not a DTMF key.
    #[error("{0:?} is not a DTMF key")]
    InvalidKey(char),
    /// RFC 4733 was required but not negotiated.
    #[error("telephone-event was not negotiated")]
    NoTelephoneEvent,
    /// Too many keys waiting to be sent.
    #[error("DTMF send queue is full")]
    DtmfQueueFull,
    /// The Opus encoder or decoder could not be set up.
    #[error(transparent)]
    Opus(#[from] OpusError),
}

/// How a received key was detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtmfSource {
    /// RFC 4733 telephone-event packets.
    Rfc4733,
    /// Tones in the audio.
    InBand,
}

/// What a session tells its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// The prompt's last frame went out.
    PlaybackFinished,
    /// A key was pressed (reported once, whichever way it came first).
    Dtmf {
        /// The key.
        digit: char,
        /// How it was detected.
        source: DtmfSource,
        /// When it was reported.
        at: Instant,
    },
    /// A recording ended; the driver writes it out
    /// ([`Recording::write_wav`]).
    RecordingFinished(Recording),
    /// No RTP arrived for the inactivity timeout. Raised once until RTP
    /// flows again.
    Inactive,
    /// Symmetric RTP latched onto this address.
    RemoteLatched(SocketAddr),
}
