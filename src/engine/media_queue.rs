//! The shard's outgoing media: every call's RTP and RTCP of a round,
//! packed back to back in one reused buffer until the driver sends them.
//!
//! Why not a queue of [`MediaDatagram`]s: each of those carries a
//! 512-byte array for a 172-byte packet, so queueing one zeroed and
//! copied the whole array, and lining the queue up for `sendmmsg`
//! (`VecDeque::make_contiguous`) moved them again; at 2,000 calls that was
//! 100,000 such moves a second. Here a datagram's bytes are copied once,
//! from its session's transmit slot to the end of the buffer.

use std::net::SocketAddr;

use kuulo_media::session::{PacketKind, Transmit};

use super::MediaDatagram;

/// Where one queued datagram's bytes are.
#[derive(Debug, Clone, Copy)]
struct Entry {
    destination: SocketAddr,
    kind: PacketKind,
    local_rtp_port: u16,
    start: usize,
    len: usize,
}

/// One datagram waiting to be sent, borrowed from the queue.
#[derive(Debug, Clone, Copy)]
pub struct OutgoingMedia<'a> {
    /// Where to send it.
    pub destination: SocketAddr,
    /// RTP (send from the RTP socket) or RTCP (from the RTCP socket).
    pub kind: PacketKind,
    /// The local RTP port of the call's pair: RTP leaves from it, RTCP
    /// from the next port.
    pub local_rtp_port: u16,
    /// The bytes.
    pub contents: &'a [u8],
}

impl OutgoingMedia<'_> {
    /// The local port it leaves from: the pair's RTP port, or the one
    /// above it for RTCP.
    pub fn local_port(&self) -> u16 {
        super::types::source_port(self.kind, self.local_rtp_port)
    }
}

/// Datagrams in the order they were queued; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct MediaQueue {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
    /// Entries before this one were sent (or dropped).
    head: usize,
}

impl MediaQueue {
    /// Queues a copy of a session's datagram, to leave from the pair
    /// whose RTP port is `local_rtp_port`.
    pub fn push(&mut self, t: &Transmit<'_>, local_rtp_port: u16) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(t.contents);
        self.entries.push(Entry {
            destination: t.destination,
            kind: t.kind,
            local_rtp_port,
            start,
            len: t.contents.len(),
        });
    }

    /// The datagrams not yet sent, oldest first.
    pub fn pending(&self) -> impl ExactSizeIterator<Item = OutgoingMedia<'_>> + Clone {
        self.entries[self.head..].iter().map(|e| OutgoingMedia {
            destination: e.destination,
            kind: e.kind,
            local_rtp_port: e.local_rtp_port,
            contents: &self.bytes[e.start..e.start + e.len],
        })
    }

    /// Drops the first `n` pending datagrams. Once none is left the
    /// buffers are emptied (keeping their capacity), so a shard that sends
    /// each round's datagrams in that round reuses the same memory.
    pub fn consume(&mut self, n: usize) {
        self.head = (self.head + n).min(self.entries.len());
        if self.head == self.entries.len() {
            self.entries.clear();
            self.bytes.clear();
            self.head = 0;
        }
    }

    /// Takes the oldest pending datagram as an owned copy.
    pub fn pop(&mut self) -> Option<MediaDatagram> {
        let e = *self.entries.get(self.head)?;
        let d = MediaDatagram::new(
            e.destination,
            e.kind,
            e.local_rtp_port,
            &self.bytes[e.start..e.start + e.len],
        );
        self.consume(1);
        Some(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transmit(port: u16, kind: PacketKind, contents: &[u8]) -> Transmit<'_> {
        Transmit {
            destination: SocketAddr::from(([192, 0, 2, 1], port)),
            kind,
            contents,
        }
    }

    #[test]
    fn keeps_order_and_bytes_and_reuses_its_buffers() {
        let mut q = MediaQueue::default();
        q.push(&transmit(1, PacketKind::Rtp, &[1, 2, 3]), 4000);
        q.push(&transmit(2, PacketKind::Rtcp, &[4]), 4002);
        q.push(&transmit(3, PacketKind::Rtp, &[5, 6]), 4000);
        let seen: Vec<(u16, PacketKind, Vec<u8>)> = q
            .pending()
            .map(|d| (d.destination.port(), d.kind, d.contents.to_vec()))
            .collect();
        assert_eq!(
            seen,
            vec![
                (1, PacketKind::Rtp, vec![1, 2, 3]),
                (2, PacketKind::Rtcp, vec![4]),
                (3, PacketKind::Rtp, vec![5, 6]),
            ]
        );
        q.consume(1);
        assert_eq!(q.pending().len(), 2);
        let d = q.pop().unwrap();
        assert_eq!((d.destination.port(), d.contents()), (2, &[4u8][..]));
        assert_eq!(d.local_rtp_port, 4002, "the pair travels with the bytes");
        // A new datagram queued behind one still pending keeps its place.
        q.push(&transmit(4, PacketKind::Rtp, &[7]), 4000);
        let ports: Vec<u16> = q.pending().map(|d| d.destination.port()).collect();
        assert_eq!(ports, vec![3, 4]);
        let capacity = q.bytes.capacity();
        q.consume(5);
        assert_eq!(q.pending().len(), 0);
        assert!(q.bytes.is_empty() && q.entries.is_empty());
        assert_eq!(q.bytes.capacity(), capacity, "the buffer is kept");
        assert!(q.pop().is_none());
    }
}
