//! RFC 3264 offer/answer for one audio stream.
//!
//! A survey call needs exactly one audio stream, one codec and, if the peer
//! can, RFC 4733 telephone-events; so an answer accepts the first usable
//! audio m-line, names a single codec, and rejects every other m-line with
//! port 0 as RFC 3264 section 6 requires.

use super::{
    AddrType, Attribute, Connection, Direction, MediaDescription, Origin, RtpMap,
    SessionDescription,
};
use std::net::{IpAddr, SocketAddr};
use thiserror::Error;

/// Payload type we offer for Opus (dynamic; what most phones use).
pub const PT_OPUS: u8 = 111;
/// Payload type we offer for telephone-event/8000.
pub const PT_TELEPHONE_EVENT_8K: u8 = 101;
/// Payload type we offer for telephone-event/48000.
pub const PT_TELEPHONE_EVENT_48K: u8 = 110;
/// DTMF events we handle: digits, `*`, `#`, A-D, flash.
const TELEPHONE_EVENTS: &str = "0-16";
const AVP: &str = "RTP/AVP";

/// An audio codec this engine can send and receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioCodec {
    /// G.711 mu-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
    /// Opus, `opus/48000/2` (RFC 7587).
    Opus,
}

impl AudioCodec {
    /// Encoding name in rtpmap.
    pub fn encoding(self) -> &'static str {
        match self {
            AudioCodec::Pcmu => "PCMU",
            AudioCodec::Pcma => "PCMA",
            AudioCodec::Opus => "opus",
        }
    }

    /// RTP clock rate; for Opus always 48000 whatever the audio rate.
    pub fn clock_rate(self) -> u32 {
        match self {
            AudioCodec::Pcmu | AudioCodec::Pcma => 8000,
            AudioCodec::Opus => 48000,
        }
    }

    /// The payload type we put in offers.
    pub fn offer_payload_type(self) -> u8 {
        match self {
            AudioCodec::Pcmu => 0,
            AudioCodec::Pcma => 8,
            AudioCodec::Opus => PT_OPUS,
        }
    }

    fn channels(self) -> Option<u16> {
        match self {
            AudioCodec::Opus => Some(2),
            _ => None,
        }
    }

    fn matches(self, map: &RtpMap) -> bool {
        map.encoding.eq_ignore_ascii_case(self.encoding())
            && map.clock_rate == self.clock_rate()
            && match self {
                AudioCodec::Opus => map.channels == Some(2),
                _ => matches!(map.channels, None | Some(1)),
            }
    }

    fn rtpmap(self, payload_type: u8) -> RtpMap {
        RtpMap {
            payload_type,
            encoding: self.encoding().to_string(),
            clock_rate: self.clock_rate(),
            channels: self.channels(),
        }
    }
}

/// What we offer or accept: our address, port and preferences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaConfig {
    /// Our RTP address, written in `o=` and `c=`.
    pub address: IpAddr,
    /// Our RTP port (RTCP on port + 1).
    pub port: u16,
    /// Codecs in our order of preference (used for offers; answers follow
    /// the offerer's order).
    pub codecs: Vec<AudioCodec>,
    /// Whether to offer/accept RFC 4733 telephone-events.
    pub telephone_event: bool,
    /// Packet time we want to receive, in ms.
    pub ptime: u32,
    /// What we are willing to do.
    pub direction: Direction,
    /// `o=` session id (the caller picks it, e.g. at random).
    pub session_id: u64,
    /// `o=` session version; bump it for every new offer in a dialog.
    pub session_version: u64,
}

impl MediaConfig {
    /// PCMU, PCMA and Opus with telephone-events, 20 ms, sendrecv.
    pub fn new(address: IpAddr, port: u16) -> Self {
        MediaConfig {
            address,
            port,
            codecs: vec![AudioCodec::Pcmu, AudioCodec::Pcma, AudioCodec::Opus],
            telephone_event: true,
            ptime: 20,
            direction: Direction::SendRecv,
            session_id: 0,
            session_version: 0,
        }
    }

    fn session(&self, media: Vec<MediaDescription>) -> SessionDescription {
        SessionDescription {
            origin: Origin {
                username: "-".to_string(),
                session_id: self.session_id.to_string(),
                session_version: self.session_version.to_string(),
                addr_type: AddrType::of(self.address),
                address: self.address.to_string(),
            },
            session_name: "kuulo".to_string(),
            connection: Some(Connection::new(self.address)),
            timing: vec![(0, 0)],
            attributes: Vec::new(),
            other_lines: Vec::new(),
            media,
        }
    }

    fn audio(&self, formats: &[(u8, RtpMap)], direction: Direction) -> MediaDescription {
        let mut attributes: Vec<Attribute> = Vec::new();
        for (pt, map) in formats {
            attributes.push(Attribute::RtpMap(map.clone()));
            if map.encoding == "telephone-event" {
                attributes.push(Attribute::Fmtp {
                    payload_type: *pt,
                    params: TELEPHONE_EVENTS.to_string(),
                });
            }
        }
        attributes.push(Attribute::Ptime(self.ptime));
        attributes.push(Attribute::Direction(direction));
        MediaDescription {
            media: "audio".to_string(),
            port: self.port,
            port_count: None,
            protocol: AVP.to_string(),
            formats: formats.iter().map(|(pt, _)| pt.to_string()).collect(),
            connection: None,
            attributes,
            other_lines: Vec::new(),
        }
    }
}

fn telephone_event(payload_type: u8, clock_rate: u32) -> RtpMap {
    RtpMap {
        payload_type,
        encoding: "telephone-event".to_string(),
        clock_rate,
        channels: None,
    }
}

/// The outcome of offer/answer: what to send, where, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The codec both sides use.
    pub codec: AudioCodec,
    /// Its payload type on the wire.
    pub payload_type: u8,
    /// Telephone-event payload type, if both sides support it at the
    /// codec's clock rate.
    pub telephone_event: Option<u8>,
    /// Where the peer wants RTP.
    pub remote: SocketAddr,
    /// What we may do: send, receive, both or neither (hold).
    pub direction: Direction,
    /// Packet time the peer asked for, if any.
    pub remote_ptime: Option<u32>,
    /// Longest packet time the peer takes (`a=maxptime`), if given.
    pub remote_maxptime: Option<u32>,
}

/// Why offer/answer failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NegotiationError {
    /// No audio m-line with a non-zero port and RTP/AVP.
    #[error("no usable audio stream: need an m=audio line with RTP/AVP and a non-zero port")]
    NoAudio,
    /// The audio m-line lists no codec we support.
    #[error("no common codec: offered {offered}, we support PCMU, PCMA and opus/48000/2")]
    NoCommonCodec {
        /// The offered formats, as `pt:name/rate` text.
        offered: String,
    },
    /// The accepted m-line has no usable `c=` address.
    #[error("no usable connection address for the audio stream: {0}")]
    BadConnection(String),
    /// The answer does not fit our offer.
    #[error("answer does not match the offer: {0}")]
    AnswerMismatch(&'static str),
}

/// Builds an offer from our configuration: our codecs in order, then
/// telephone-event at 8000 and 48000 Hz when a codec of that clock is offered.
pub fn build_offer(cfg: &MediaConfig) -> SessionDescription {
    let mut formats: Vec<(u8, RtpMap)> = Vec::new();
    for codec in &cfg.codecs {
        let pt = codec.offer_payload_type();
        if !formats.iter().any(|(p, _)| *p == pt) {
            formats.push((pt, codec.rtpmap(pt)));
        }
    }
    if cfg.telephone_event {
        for (rate, pt) in [
            (8000, PT_TELEPHONE_EVENT_8K),
            (48000, PT_TELEPHONE_EVENT_48K),
        ] {
            if cfg.codecs.iter().any(|c| c.clock_rate() == rate) {
                formats.push((pt, telephone_event(pt, rate)));
            }
        }
    }
    let media = cfg.audio(&formats, cfg.direction);
    cfg.session(vec![media])
}

/// What a payload type in `m` means: its rtpmap, or RFC 3551's static
/// assignment for PCMU/PCMA when the rtpmap is left out.
fn describe(m: &MediaDescription, pt: u8) -> Option<RtpMap> {
    if let Some(map) = m.rtpmap(pt) {
        return Some(map.clone());
    }
    match pt {
        0 => Some(AudioCodec::Pcmu.rtpmap(0)),
        8 => Some(AudioCodec::Pcma.rtpmap(8)),
        _ => None,
    }
}

fn usable_audio(m: &MediaDescription) -> bool {
    m.media.eq_ignore_ascii_case("audio") && m.port != 0 && m.protocol.eq_ignore_ascii_case(AVP)
}

fn remote_addr(sdp: &SessionDescription, index: usize) -> Result<SocketAddr, NegotiationError> {
    let c = sdp
        .media_connection(index)
        .ok_or_else(|| NegotiationError::BadConnection("no c= line".to_string()))?;
    let ip = c.ip().ok_or_else(|| {
        NegotiationError::BadConnection(format!("not an IP address: {}", c.address))
    })?;
    Ok(SocketAddr::new(ip, sdp.media[index].port))
}

fn pick_telephone_event(m: &MediaDescription, rate: u32) -> Option<u8> {
    m.payload_types().find(|pt| {
        m.rtpmap(*pt).is_some_and(|map| {
            map.encoding.eq_ignore_ascii_case("telephone-event") && map.clock_rate == rate
        })
    })
}

/// Answers an offer: accepts the first usable audio m-line, picks the
/// first of its codecs (in the offerer's order) that we support and that
/// the offer pairs with telephone-event at the codec's clock rate (or, if
/// none is, simply the first we support), adds that telephone-event,
/// mirrors the direction, and rejects every other m-line with port 0.
pub fn answer_offer(
    offer: &SessionDescription,
    cfg: &MediaConfig,
) -> Result<(SessionDescription, Negotiated), NegotiationError> {
    let index = offer
        .media
        .iter()
        .position(usable_audio)
        .ok_or(NegotiationError::NoAudio)?;
    let m = &offer.media[index];
    let supported = |pt: u8| {
        let map = describe(m, pt)?;
        let codec = cfg.codecs.iter().copied().find(|c| c.matches(&map))?;
        Some((pt, codec))
    };
    // A survey is answered with keys: a codec the offer pairs with
    // telephone-event at its clock rate wins over an earlier one without
    // (softphones such as baresip offer Opus first but telephone-event
    // only at 8 kHz; taking Opus would leave only in-band detection).
    let with_events = cfg
        .telephone_event
        .then(|| {
            m.payload_types()
                .filter_map(supported)
                .find(|(_, codec)| pick_telephone_event(m, codec.clock_rate()).is_some())
        })
        .flatten();
    let chosen = with_events.or_else(|| m.payload_types().find_map(supported));
    let Some((payload_type, codec)) = chosen else {
        return Err(NegotiationError::NoCommonCodec {
            offered: describe_formats(m),
        });
    };
    let remote = remote_addr(offer, index)?;
    let telephone_event = cfg
        .telephone_event
        .then(|| pick_telephone_event(m, codec.clock_rate()))
        .flatten();
    let direction = reachable(
        offer
            .media_direction(index)
            .mirror()
            .intersect(cfg.direction),
        remote,
    );

    let mut formats = vec![(payload_type, codec.rtpmap(payload_type))];
    if let Some(pt) = telephone_event {
        formats.push((pt, telephone_event_map(pt, codec)));
    }
    let media = offer
        .media
        .iter()
        .enumerate()
        .map(|(i, om)| {
            if i == index {
                cfg.audio(&formats, direction)
            } else {
                rejected(om)
            }
        })
        .collect();
    let negotiated = Negotiated {
        codec,
        payload_type,
        telephone_event,
        remote,
        direction,
        remote_ptime: m.ptime(),
        remote_maxptime: m.maxptime(),
    };
    Ok((cfg.session(media), negotiated))
}

fn telephone_event_map(pt: u8, codec: AudioCodec) -> RtpMap {
    telephone_event(pt, codec.clock_rate())
}

fn rejected(m: &MediaDescription) -> MediaDescription {
    MediaDescription {
        media: m.media.clone(),
        port: 0,
        port_count: None,
        protocol: m.protocol.clone(),
        // RFC 3264 6: a rejected stream still lists at least one format.
        formats: m.formats.first().cloned().into_iter().collect(),
        connection: None,
        attributes: Vec::new(),
        other_lines: Vec::new(),
    }
}

fn describe_formats(m: &MediaDescription) -> String {
    let list: Vec<String> = m
        .formats
        .iter()
        .take(16)
        .map(|f| {
            let map = f.parse::<u8>().ok().and_then(|pt| describe(m, pt));
            match map {
                Some(map) => format!("{f}:{}/{}", map.encoding, map.clock_rate),
                None => f.clone(),
            }
        })
        .collect();
    if list.is_empty() {
        "nothing".to_string()
    } else {
        list.join(" ")
    }
}

/// Reads the answer to our `offer`: the codec the peer chose (the first in
/// its list that we offered), its telephone-event, address and direction.
pub fn accept_answer(
    offer: &SessionDescription,
    answer: &SessionDescription,
) -> Result<Negotiated, NegotiationError> {
    if answer.media.len() != offer.media.len() {
        return Err(NegotiationError::AnswerMismatch(
            "the answer has a different number of m-lines",
        ));
    }
    let index = offer
        .media
        .iter()
        .zip(&answer.media)
        .position(|(o, a)| usable_audio(o) && usable_audio(a))
        .ok_or(NegotiationError::NoAudio)?;
    let (om, am) = (&offer.media[index], &answer.media[index]);
    let chosen = am.payload_types().find_map(|pt| {
        if !om.payload_types().any(|p| p == pt) {
            return None;
        }
        let map = describe(am, pt).or_else(|| describe(om, pt))?;
        let codec = [AudioCodec::Pcmu, AudioCodec::Pcma, AudioCodec::Opus]
            .into_iter()
            .find(|c| c.matches(&map))?;
        Some((pt, codec))
    });
    let Some((payload_type, codec)) = chosen else {
        return Err(NegotiationError::NoCommonCodec {
            offered: describe_formats(am),
        });
    };
    let remote = remote_addr(answer, index)?;
    let direction = answer
        .media_direction(index)
        .mirror()
        .intersect(offer.media_direction(index));
    Ok(Negotiated {
        codec,
        payload_type,
        telephone_event: pick_telephone_event(am, codec.clock_rate()),
        remote,
        direction: reachable(direction, remote),
        remote_ptime: am.ptime(),
        remote_maxptime: am.maxptime(),
    })
}

/// `c=0.0.0.0` is the pre-RFC 3264 way to put a call on hold (RFC 2543):
/// there is nowhere to send to, so we only listen.
fn reachable(direction: Direction, remote: SocketAddr) -> Direction {
    if remote.ip().is_unspecified() {
        direction.intersect(Direction::RecvOnly)
    } else {
        direction
    }
}
