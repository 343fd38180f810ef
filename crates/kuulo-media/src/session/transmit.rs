//! The outgoing packet queue: a fixed ring of datagram buffers, written in
//! place and lent out by [`poll_transmit`](super::MediaSession::poll_transmit),
//! so sending never allocates.

use std::net::SocketAddr;

/// Largest datagram a session builds: a 20 ms G.711 packet is 172 bytes,
/// an Opus one at most 412 (frames are capped at
/// [`MAX_FRAME_BYTES`](crate::opus::MAX_FRAME_BYTES)), and a sender
/// report with a CNAME under 330.
pub const MAX_DATAGRAM: usize = 512;
/// Packets one call to `handle_timeout` can queue: when it catches up
/// `MAX_CATCH_UP` (3) ticks, an audio and a
/// telephone-event packet per tick, the event's two further end packets,
/// and an RTCP report. A full queue drops and counts
/// (`SessionStats::transmit_overflow`); every slot is 512 bytes a call,
/// so the ring is no bigger than that.
const SLOTS: usize = 10;

/// Which protocol a datagram carries, for drivers with separate sockets
/// for RTP and RTCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketKind {
    /// RTP.
    Rtp,
    /// RTCP.
    Rtcp,
}

/// One datagram to send, borrowed from the session until the next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit<'a> {
    /// Where to send it.
    pub destination: SocketAddr,
    /// RTP or RTCP.
    pub kind: PacketKind,
    /// The bytes.
    pub contents: &'a [u8],
}

#[derive(Debug)]
struct Slot {
    destination: SocketAddr,
    kind: PacketKind,
    len: usize,
    buf: [u8; MAX_DATAGRAM],
}

#[derive(Debug)]
pub(crate) struct TransmitQueue {
    slots: Box<[Slot]>,
    head: usize,
    len: usize,
}

impl TransmitQueue {
    pub(crate) fn new(placeholder: SocketAddr) -> Self {
        let slots = (0..SLOTS)
            .map(|_| Slot {
                destination: placeholder,
                kind: PacketKind::Rtp,
                len: 0,
                buf: [0; MAX_DATAGRAM],
            })
            .collect();
        TransmitQueue {
            slots,
            head: 0,
            len: 0,
        }
    }

    /// Lets `write` fill the next free buffer; it returns the length
    /// written, or `None` to abandon the packet. False if the queue is full.
    pub(crate) fn push(
        &mut self,
        destination: SocketAddr,
        kind: PacketKind,
        write: impl FnOnce(&mut [u8]) -> Option<usize>,
    ) -> bool {
        if self.len == SLOTS {
            return false;
        }
        let i = (self.head + self.len) % SLOTS;
        let slot = &mut self.slots[i];
        if let Some(n) = write(&mut slot.buf) {
            slot.destination = destination;
            slot.kind = kind;
            slot.len = n.min(MAX_DATAGRAM);
            self.len += 1;
        }
        true
    }

    pub(crate) fn pop(&mut self) -> Option<Transmit<'_>> {
        if self.len == 0 {
            return None;
        }
        let slot = &self.slots[self.head];
        self.head = (self.head + 1) % SLOTS;
        self.len -= 1;
        Some(Transmit {
            destination: slot.destination,
            kind: slot.kind,
            contents: &slot.buf[..slot.len],
        })
    }
}
