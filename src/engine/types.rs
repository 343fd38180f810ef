//! The engine's boundary types: its settings, and what it hands the driver
//! (store writes, events, media datagrams).

use std::net::SocketAddr;

use kuulo_campaign::{CallId, Disposition};
use kuulo_ivr::{AnswerValue, StepId};
use kuulo_media::recording::Recording;
use kuulo_media::session::{DtmfDetectMode, IdleMode};
use kuulo_media::session::{IntervalHistogram, PacketKind, MAX_DATAGRAM};
use kuulo_sip::ua::{CallHandle, EndReason, UaConfig};
use thiserror::Error;

/// Settings of a [`SurveyEngine`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The SIP user agent's settings (its local address goes in Via and
    /// Contact).
    pub ua: UaConfig,
    /// The shard's RTP address, advertised in every SDP; RTCP is on the
    /// next port. With [`MediaPorts::Pool`] only its IP is used.
    pub rtp: SocketAddr,
    /// One RTP port pair for every call, or a pair per call.
    pub media_ports: MediaPorts,
    /// Calls beyond this many at once are refused with 486 Busy Here.
    pub max_concurrent: usize,
    /// Answer incoming INVITEs (a survey number); when false they get 403.
    pub accept_incoming: bool,
    /// Seed of SSRCs, sequence numbers and SDP session ids; should be
    /// random (the engine reads no randomness itself).
    pub seed: u64,
    /// What calls send between prompts: silence (what trunks expect), or
    /// nothing, which lets a listener (the simulated residents) tell where
    /// a prompt ends.
    pub media_idle: IdleMode,
    /// Which DTMF the calls listen to (RFC 4733 events, tones in the
    /// audio, or both); `Auto` by default, see [`DtmfDetectMode`].
    pub dtmf_detect: DtmfDetectMode,
}

impl EngineConfig {
    /// Defaults for a shard whose SIP is at `sip` and RTP at `rtp`.
    pub fn new(sip: SocketAddr, rtp: SocketAddr) -> EngineConfig {
        let mut ua = UaConfig::new(sip);
        ua.contact_user = "survey".into();
        EngineConfig {
            ua,
            rtp,
            media_ports: MediaPorts::Shared,
            max_concurrent: 1000,
            accept_incoming: true,
            seed: 0x6b75_756c_6f00_0001,
            media_idle: IdleMode::Silence,
            dtmf_detect: DtmfDetectMode::Auto,
        }
    }
}

/// Which local RTP ports calls use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum MediaPorts {
    /// Every call on the shard's one pair ([`EngineConfig::rtp`]), told
    /// apart by the peer's address: the fewest sockets and system calls,
    /// but two calls whose media comes from one address (a media server
    /// behind a single port) cannot be told apart.
    #[default]
    Shared,
    /// A pair per call from these RTP ports (RTCP on each next port),
    /// which the driver has bound: what Asterisk and FreeSWITCH do, and
    /// what firewalls and SBCs configured for them expect. A pair rests
    /// for `quarantine` after its call before another call gets it, see
    /// [`RtpPortPool`](kuulo_media::port_pool::RtpPortPool).
    Pool {
        /// The even RTP ports, in the order to give them out.
        rtp_ports: Vec<u16>,
        /// How long a released pair rests.
        quarantine: std::time::Duration,
    },
}

/// A write for the results store, in the order the driver must apply it.
/// Calls are named by their [`CallHandle`]; the store's pseudonymous call
/// id is given out by the store when it executes [`StoreOp::CallStarted`].
#[derive(Debug, Clone, PartialEq)]
pub enum StoreOp {
    /// A call was answered (inbound) or placed (outbound).
    CallStarted {
        /// The call.
        call: CallHandle,
        /// The resident's number in E.164, when the From (inbound) or
        /// target (outbound) carries one; it is only ever stored as a
        /// keyed hash. `None` records the call anonymously.
        number: Option<String>,
    },
    /// An outbound campaign call the dialler already recorded: answers go
    /// under `id`, and the dialler writes the call's end (with its retry).
    CallAdopted {
        /// The call.
        call: CallHandle,
        /// The store's id for it.
        id: CallId,
    },
    /// An answer was given; store it at once so a hang-up keeps it.
    Answer {
        /// The call.
        call: CallHandle,
        /// The question step.
        question: StepId,
        /// The answer.
        value: AnswerValue,
    },
    /// The audio of an open answer; write it as WAV named by the call's
    /// pseudonymous id and the question, never by number.
    Recording {
        /// The call.
        call: CallHandle,
        /// The record step.
        question: StepId,
        /// The audio.
        recording: Recording,
    },
    /// The resident asked never to be called again.
    OptOut {
        /// The call.
        call: CallHandle,
    },
    /// The call is over.
    CallFinished {
        /// The call.
        call: CallHandle,
        /// How it ended.
        disposition: Disposition,
        /// The final SIP status of a call that was not answered.
        sip_status: Option<u16>,
        /// The language the survey ended in.
        language: Option<String>,
    },
}

/// What the engine tells its driver besides store writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineEvent {
    /// Media is up and the survey has begun.
    CallStarted {
        /// The call.
        call: CallHandle,
        /// Its SIP Call-ID.
        sip_call_id: String,
    },
    /// A call is over and its state is gone.
    CallEnded {
        /// The call.
        call: CallHandle,
        /// How it ended.
        disposition: Disposition,
        /// Why SIP ended it.
        reason: EndReason,
        /// Every answer given, in order.
        answers: Vec<(StepId, AnswerValue)>,
        /// The survey's language, once the survey ran.
        language: Option<String>,
    },
}

/// One RTP or RTCP datagram to send, copied out of its session so the
/// driver can send it after further calls on the engine.
#[derive(Clone)]
pub struct MediaDatagram {
    /// Where to send it.
    pub destination: SocketAddr,
    /// RTP (send from the RTP socket) or RTCP (from the RTCP socket).
    pub kind: PacketKind,
    /// The local RTP port of the call's pair: RTP leaves from it, RTCP
    /// from the next port.
    pub local_rtp_port: u16,
    len: usize,
    buf: [u8; MAX_DATAGRAM],
}

impl MediaDatagram {
    pub(crate) fn new(
        destination: SocketAddr,
        kind: PacketKind,
        local_rtp_port: u16,
        contents: &[u8],
    ) -> MediaDatagram {
        let len = contents.len().min(MAX_DATAGRAM);
        let mut buf = [0u8; MAX_DATAGRAM];
        buf[..len].copy_from_slice(&contents[..len]);
        MediaDatagram {
            destination,
            kind,
            local_rtp_port,
            len,
            buf,
        }
    }

    /// The bytes.
    pub fn contents(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The local port it leaves from: the pair's RTP port, or the one
    /// above it for RTCP.
    pub fn local_port(&self) -> u16 {
        source_port(self.kind, self.local_rtp_port)
    }
}

/// The local port a datagram of `kind` leaves from, for the pair whose RTP
/// port is `local_rtp_port` (RTCP on the next one, RFC 3550 section 11).
pub(crate) fn source_port(kind: PacketKind, local_rtp_port: u16) -> u16 {
    match kind {
        PacketKind::Rtp => local_rtp_port,
        PacketKind::Rtcp => local_rtp_port + 1,
    }
}

impl std::fmt::Debug for MediaDatagram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaDatagram")
            .field("destination", &self.destination)
            .field("kind", &self.kind)
            .field("local_rtp_port", &self.local_rtp_port)
            .field("len", &self.len)
            .finish()
    }
}

/// The media counters of every call a shard has run, summed over their
/// sessions (see [`SurveyEngine::media_stats`](super::SurveyEngine::media_stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShardMediaStats {
    /// Calls with a media session.
    pub sessions: u64,
    /// RTP packets sent.
    pub packets_sent: u64,
    /// RTP packets accepted.
    pub packets_received: u64,
    /// Send ticks skipped because the driver woke too late.
    pub ticks_skipped: u64,
    /// Inbound RTP packets lost (RFC 3550 count, from sequence numbers).
    pub lost: i64,
    /// Inbound RTP packets that came too late for playout.
    pub late: u64,
    /// Packets dropped because the driver did not drain transmits.
    pub transmit_overflow: u64,
    /// Deviation of each send interval from 20 ms, as the sessions saw
    /// their own ticks.
    pub send_interval: IntervalHistogram,
}

impl ShardMediaStats {
    /// Adds one session's figures.
    pub fn add(&mut self, s: &kuulo_media::session::SessionStats) {
        self.sessions += 1;
        self.packets_sent += s.packets_sent;
        self.packets_received += s.packets_received;
        self.ticks_skipped += s.ticks_skipped;
        self.lost += s.lost;
        self.late += s.late;
        self.transmit_overflow += s.transmit_overflow;
        self.send_interval.merge(&s.send_interval);
    }
}

/// Why an outbound call could not be placed.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The engine already runs its maximum number of calls.
    #[error("the engine already runs {0} calls (its maximum)")]
    Full(usize),
    /// The engine is hanging up every call (shutdown) and places no more.
    #[error("the engine is shutting down and places no new calls")]
    ShuttingDown,
    /// Every RTP port pair of the pool is in a call or resting.
    #[error(transparent)]
    NoRtpPort(#[from] kuulo_media::port_pool::PortPoolError),
}
