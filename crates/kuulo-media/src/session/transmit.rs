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
/// (`SessionStats::transmit_overflow`); each slot holds the session's
/// largest datagram (172 bytes for 20 ms of G.711, 512 at most) and every
/// call has a ring, so it is no bigger than that.
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

/// Where one queued datagram goes; its bytes are the slot's share of
/// [`TransmitQueue::bufs`].
#[derive(Debug, Clone, Copy)]
struct Slot {
    destination: SocketAddr,
    kind: PacketKind,
    len: u16,
}

/// RTP header without CSRCs or extension, as the session writes it.
const RTP_HEADER: usize = 12;
/// Longest CNAME an SDES item carries (RFC 3550 6.5: a one-byte length).
const MAX_CNAME: usize = 255;

/// The largest datagram a G.711 session can build, so its slots carry no
/// room it never uses (a 20 ms session's packets are 172 bytes, against
/// the [`MAX_DATAGRAM`] an Opus packet may need).
///
/// Audio is a 20 ms frame (a prompt frame, a tone or silence, 160 bytes)
/// or, on a packet clock of its own, one packet of `send_units` bytes; a
/// telephone-event packet is 16 bytes; the RTCP compound is the largest
/// sender report the session writes (one report block), the SDES with
/// the CNAME (one over 255 bytes fails to write whatever the room) and a
/// BYE without a reason. Never above [`MAX_DATAGRAM`], so a datagram that
/// fits the bound fits a slot exactly as it fit the fixed ones.
pub(crate) fn g711_datagram_bound(send_units: usize, cname_len: usize) -> usize {
    let audio = RTP_HEADER + send_units.max(crate::prompt::FRAME_SAMPLES);
    let event = RTP_HEADER + 4;
    let sr = 4 + 4 + 20 + 24;
    let sdes = 4 + (4 + 2 + cname_len.min(MAX_CNAME) + 1).div_ceil(4) * 4;
    let bye = 4 + 4;
    audio.max(event).max(sr + sdes + bye).min(MAX_DATAGRAM)
}

#[derive(Debug)]
pub(crate) struct TransmitQueue {
    slots: [Slot; SLOTS],
    /// `SLOTS` buffers of `slot_len` bytes, one allocation for all.
    bufs: Box<[u8]>,
    slot_len: usize,
    head: usize,
    len: usize,
}

impl TransmitQueue {
    /// A queue whose datagrams are at most `slot_len` bytes (capped at
    /// [`MAX_DATAGRAM`]): a packet that does not fit is abandoned, as by
    /// a writer that fails.
    pub(crate) fn new(placeholder: SocketAddr, slot_len: usize) -> Self {
        let slot_len = slot_len.min(MAX_DATAGRAM);
        TransmitQueue {
            slots: [Slot {
                destination: placeholder,
                kind: PacketKind::Rtp,
                len: 0,
            }; SLOTS],
            bufs: vec![0; SLOTS * slot_len].into_boxed_slice(),
            slot_len,
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
        let at = i * self.slot_len;
        let buf = &mut self.bufs[at..at + self.slot_len];
        if let Some(n) = write(buf) {
            let slot = &mut self.slots[i];
            slot.destination = destination;
            slot.kind = kind;
            // `slot_len` is at most MAX_DATAGRAM, so this fits.
            slot.len = n.min(self.slot_len) as u16;
            self.len += 1;
        }
        true
    }

    pub(crate) fn pop(&mut self) -> Option<Transmit<'_>> {
        if self.len == 0 {
            return None;
        }
        let i = self.head;
        let slot = self.slots[i];
        self.head = (self.head + 1) % SLOTS;
        self.len -= 1;
        let at = i * self.slot_len;
        Some(Transmit {
            destination: slot.destination,
            kind: slot.kind,
            contents: &self.bufs[at..at + usize::from(slot.len)],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtcp::{ReportBlock, RtcpWriter, SenderInfo};
    use crate::rtp::RtpBuilder;

    fn rtp(payload: &[u8], buf: &mut [u8]) -> Option<usize> {
        RtpBuilder {
            marker: true,
            payload_type: 0,
            sequence: 1,
            timestamp: 2,
            ssrc: 3,
            csrc: &[],
            extension: None,
            payload,
            padding: 0,
        }
        .write_to(buf)
        .ok()
    }

    fn closing_report(cname: &str, buf: &mut [u8]) -> Option<usize> {
        let mut w = RtcpWriter::new(buf);
        w.sender_report(3, &SenderInfo::default(), &[ReportBlock::default()])
            .ok()?;
        w.sdes_cname(3, cname).ok()?;
        w.bye(&[3], None).ok()?;
        Some(w.len())
    }

    #[test]
    fn the_g711_bound_holds_the_largest_packets_a_session_writes() {
        for send_units in [80, 160, 240, 320, 400, 480] {
            for cname_len in [0, 14, 100, 255] {
                let bound = g711_datagram_bound(send_units, cname_len);
                let mut buf = vec![0u8; bound];
                let cname = "c".repeat(cname_len);
                assert!(rtp(&vec![0xFF; send_units.max(160)], &mut buf).is_some());
                assert!(rtp(&[0; 4], &mut buf).is_some());
                assert!(
                    closing_report(&cname, &mut buf).is_some(),
                    "{send_units} units, CNAME of {cname_len}: {bound} bytes"
                );
            }
        }
        // 20 ms with the session's own CNAME: the audio packet is the largest.
        assert_eq!(g711_datagram_bound(160, "kuulo-0123abcd".len()), 172);
        // 60 ms: 492, within the fixed slots' 512.
        assert_eq!(g711_datagram_bound(480, 255), 492);
    }

    #[test]
    fn packets_come_out_in_order_within_their_slots() {
        let a: SocketAddr = "192.0.2.1:4000".parse().unwrap();
        let b: SocketAddr = "192.0.2.1:4001".parse().unwrap();
        let mut q = TransmitQueue::new(a, 172);
        for round in 0..3u8 {
            for i in 0..SLOTS as u8 {
                let kind = if i % 2 == 0 {
                    PacketKind::Rtp
                } else {
                    PacketKind::Rtcp
                };
                let to = if i % 2 == 0 { a } else { b };
                assert!(q.push(to, kind, |buf| {
                    let n = 100 + usize::from(i);
                    buf[..n].fill(round ^ i);
                    Some(n)
                }));
            }
            assert!(!q.push(a, PacketKind::Rtp, |_| Some(1)), "full");
            for i in 0..SLOTS as u8 {
                let t = q.pop().unwrap();
                assert_eq!(t.contents.len(), 100 + usize::from(i));
                assert!(t.contents.iter().all(|&x| x == round ^ i));
                assert_eq!(t.destination, if i % 2 == 0 { a } else { b });
            }
            assert!(q.pop().is_none());
        }
        assert!(q.push(a, PacketKind::Rtp, |buf| rtp(&[0; 200], buf)));
        assert!(q.pop().is_none(), "a packet that does not fit is abandoned");
    }
}
