//! Transport-level types shared by the sans-IO cores and the drivers.

use bytes::Bytes;
use std::fmt;
use std::net::SocketAddr;

/// The transport a message travels on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP: unreliable, so transactions retransmit.
    Udp,
    /// TCP: reliable, framed by Content-Length.
    Tcp,
    /// TLS over TCP (the seam for `sips:`; no driver yet).
    Tls,
}

impl Transport {
    /// Whether the transport delivers reliably, which switches off
    /// retransmission timers (RFC 3261 17.1.1.2).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// The token used in Via (`UDP`, `TCP`, `TLS`).
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The far end of a message: an address and the transport to reach it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    /// The remote socket address.
    pub addr: SocketAddr,
    /// The transport.
    pub transport: Transport,
}

impl Peer {
    /// A UDP peer.
    pub fn udp(addr: SocketAddr) -> Peer {
        Peer {
            addr,
            transport: Transport::Udp,
        }
    }
}

/// A message for the driver to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it.
    pub destination: Peer,
    /// The serialized message.
    pub payload: Bytes,
}
