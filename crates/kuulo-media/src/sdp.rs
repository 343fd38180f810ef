//! SDP (RFC 8866, formerly 4566): parse and serialize what SIP phones and
//! trunks send, and RFC 3264 offer/answer ([`build_offer`], [`answer_offer`],
//! [`accept_answer`]).
//!
//! The model keeps what the media path needs typed (connection, media
//! lines, rtpmap, fmtp, ptime, direction) and keeps everything else as it
//! came, so an SDP we do not fully understand survives a round trip.

mod negotiate;
mod parse;
mod write;

pub use negotiate::{
    accept_answer, answer_offer, build_offer, AudioCodec, MediaConfig, Negotiated,
    NegotiationError, PT_OPUS, PT_TELEPHONE_EVENT_48K, PT_TELEPHONE_EVENT_8K,
};

use std::net::IpAddr;
use std::str::FromStr;
use thiserror::Error;

/// Why an SDP body could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SdpError {
    /// The body is not UTF-8.
    #[error("SDP is not valid UTF-8")]
    NotUtf8,
    /// The body has no lines.
    #[error("SDP is empty")]
    Empty,
    /// A line is not `<letter>=<value>`.
    #[error("SDP line {line} is not of the form <letter>=<value>: {text:?}")]
    MalformedLine {
        /// 1-based line number.
        line: usize,
        /// The line, cut to 80 characters.
        text: String,
    },
    /// A mandatory line is missing or out of place.
    #[error("SDP {0}")]
    Missing(&'static str),
    /// A line's value is not valid for its type.
    #[error("SDP line {line}: invalid {what}: {value:?}")]
    Invalid {
        /// 1-based line number.
        line: usize,
        /// What was expected, e.g. "c= address type (IP4 or IP6)".
        what: &'static str,
        /// The offending value, cut to 80 characters.
        value: String,
    },
}

fn clip(s: &str) -> String {
    s.chars().take(80).collect()
}

/// Address family of a `c=` or `o=` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddrType {
    /// `IP4`.
    Ip4,
    /// `IP6`.
    Ip6,
}

impl AddrType {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "IP4" => Some(AddrType::Ip4),
            "IP6" => Some(AddrType::Ip6),
            _ => None,
        }
    }

    /// The family of `ip`.
    pub fn of(ip: IpAddr) -> Self {
        if ip.is_ipv4() {
            AddrType::Ip4
        } else {
            AddrType::Ip6
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            AddrType::Ip4 => "IP4",
            AddrType::Ip6 => "IP6",
        }
    }
}

/// A `c=` line (network type is always `IN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Address family.
    pub addr_type: AddrType,
    /// The address as written: an IP literal, possibly with a multicast
    /// `/ttl`, or a host name.
    pub address: String,
}

impl Connection {
    /// A connection line for `ip`.
    pub fn new(ip: IpAddr) -> Self {
        Connection {
            addr_type: AddrType::of(ip),
            address: ip.to_string(),
        }
    }

    /// The address as an IP, if it is an IP literal of the stated family.
    pub fn ip(&self) -> Option<IpAddr> {
        let literal = self.address.split('/').next()?;
        let ip = IpAddr::from_str(literal).ok()?;
        (AddrType::of(ip) == self.addr_type).then_some(ip)
    }
}

/// An `o=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// User name, `-` when none.
    pub username: String,
    /// Session id, kept as text: phones send numbers of any size.
    pub session_id: String,
    /// Session version, bumped on every new offer in a session.
    pub session_version: String,
    /// Address family of `address`.
    pub addr_type: AddrType,
    /// Address of the originating host.
    pub address: String,
}

/// Media direction (RFC 3264 section 5.1); the default is `sendrecv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Both ways.
    #[default]
    SendRecv,
    /// The describing side only sends.
    SendOnly,
    /// The describing side only receives.
    RecvOnly,
    /// Neither (call on hold).
    Inactive,
}

impl Direction {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }

    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Built from what this side may do.
    pub fn from_flags(send: bool, recv: bool) -> Self {
        match (send, recv) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// True if this side sends.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// True if this side receives.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The direction seen from the other side: what one sends the other
    /// receives.
    pub fn mirror(self) -> Self {
        Direction::from_flags(self.receives(), self.sends())
    }

    /// What both allow.
    pub fn intersect(self, other: Direction) -> Self {
        Direction::from_flags(
            self.sends() && other.sends(),
            self.receives() && other.receives(),
        )
    }
}

/// An `a=rtpmap:` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// Payload type.
    pub payload_type: u8,
    /// Encoding name as written (compare case-insensitively).
    pub encoding: String,
    /// RTP clock rate.
    pub clock_rate: u32,
    /// Channel count (audio encoding parameters), if given.
    pub channels: Option<u16>,
}

/// An attribute line (`a=`), session or media level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    /// `a=rtpmap:`.
    RtpMap(RtpMap),
    /// `a=fmtp:<pt> <params>`.
    Fmtp {
        /// Payload type.
        payload_type: u8,
        /// Parameters, as written.
        params: String,
    },
    /// `a=ptime:` in milliseconds.
    Ptime(u32),
    /// `a=sendrecv` and friends.
    Direction(Direction),
    /// Anything else, kept verbatim.
    Other {
        /// Attribute name.
        name: String,
        /// Value after the colon, if any.
        value: Option<String>,
    },
}

/// A line of a type the model does not interpret (`i=`, `b=`, `k=`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The type letter.
    pub kind: char,
    /// Everything after `=`.
    pub value: String,
}

/// An `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// Media type, e.g. `audio`.
    pub media: String,
    /// Transport port; 0 rejects or disables the stream.
    pub port: u16,
    /// Number of ports (`port/count`), rarely used.
    pub port_count: Option<u16>,
    /// Transport protocol, e.g. `RTP/AVP`.
    pub protocol: String,
    /// Media formats; RTP payload type numbers for `RTP/AVP`.
    pub formats: Vec<String>,
    /// Media-level `c=`, overriding the session's.
    pub connection: Option<Connection>,
    /// Media-level attributes in order.
    pub attributes: Vec<Attribute>,
    /// Uninterpreted lines in order.
    pub other_lines: Vec<Line>,
}

impl MediaDescription {
    /// Formats that are RTP payload type numbers.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats
            .iter()
            .filter_map(|f| f.parse::<u8>().ok().filter(|pt| *pt < 128))
    }

    /// The rtpmap for `pt`, if one was given.
    pub fn rtpmap(&self, pt: u8) -> Option<&RtpMap> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::RtpMap(m) if m.payload_type == pt => Some(m),
            _ => None,
        })
    }

    /// The fmtp parameters for `pt`, if given.
    pub fn fmtp(&self, pt: u8) -> Option<&str> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Fmtp {
                payload_type,
                params,
            } if *payload_type == pt => Some(params.as_str()),
            _ => None,
        })
    }

    /// `a=ptime`, if given.
    pub fn ptime(&self) -> Option<u32> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Ptime(p) => Some(*p),
            _ => None,
        })
    }

    /// `a=maxptime` (RFC 4566): the longest packet, in ms, the author
    /// takes; `None` if absent or not a number.
    pub fn maxptime(&self) -> Option<u32> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Other { name, value } if name.eq_ignore_ascii_case("maxptime") => value
                .as_deref()?
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|ms| ms.is_finite() && *ms >= 1.0 && *ms <= 10_000.0)
                .map(|ms| ms as u32),
            _ => None,
        })
    }

    /// The media-level direction attribute, if given.
    pub fn direction(&self) -> Option<Direction> {
        find_direction(&self.attributes)
    }
}

/// A whole session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=`.
    pub origin: Origin,
    /// `s=`.
    pub session_name: String,
    /// Session-level `c=`.
    pub connection: Option<Connection>,
    /// `t=` start and stop times; `(0, 0)` for a SIP call.
    pub timing: Vec<(u64, u64)>,
    /// Session-level attributes in order.
    pub attributes: Vec<Attribute>,
    /// Uninterpreted session-level lines in order.
    pub other_lines: Vec<Line>,
    /// Media sections.
    pub media: Vec<MediaDescription>,
}

fn find_direction(attrs: &[Attribute]) -> Option<Direction> {
    attrs.iter().find_map(|a| match a {
        Attribute::Direction(d) => Some(*d),
        _ => None,
    })
}

impl SessionDescription {
    /// Parses an SDP body as carried in a SIP message.
    pub fn parse(body: &[u8]) -> Result<Self, SdpError> {
        std::str::from_utf8(body)
            .map_err(|_| SdpError::NotUtf8)?
            .parse()
    }

    /// The session-level direction attribute, if given.
    pub fn direction(&self) -> Option<Direction> {
        find_direction(&self.attributes)
    }

    /// The direction in force for media section `index`: media level, else
    /// session level, else `sendrecv`.
    pub fn media_direction(&self, index: usize) -> Direction {
        self.media
            .get(index)
            .and_then(MediaDescription::direction)
            .or_else(|| self.direction())
            .unwrap_or_default()
    }

    /// The `c=` in force for media section `index`.
    pub fn media_connection(&self, index: usize) -> Option<&Connection> {
        self.media
            .get(index)
            .and_then(|m| m.connection.as_ref())
            .or(self.connection.as_ref())
    }
}
