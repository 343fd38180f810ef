//! RTCP (RFC 3550 section 6): sender and receiver reports, SDES CNAME, BYE
//! and compound packets, parsed without copying and built into a caller's
//! buffer; plus [`ReceiverStats`], the loss and jitter figures a receiver
//! reports (RFC 3550 A.1, A.3, A.8).

mod stats;

pub use stats::ReceiverStats;

use std::time::Duration;
use thiserror::Error;

/// Packet type of a sender report.
pub const PT_SR: u8 = 200;
/// Packet type of a receiver report.
pub const PT_RR: u8 = 201;
/// Packet type of source description.
pub const PT_SDES: u8 = 202;
/// Packet type of goodbye.
pub const PT_BYE: u8 = 203;
/// Packet type of application-defined.
pub const PT_APP: u8 = 204;

const HEADER_LEN: usize = 4;
const SENDER_INFO_LEN: usize = 20;
const REPORT_BLOCK_LEN: usize = 24;
const SDES_CNAME: u8 = 1;

/// Why a datagram is not valid RTCP, or why a packet cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtcpError {
    /// Fewer bytes than a packet header.
    #[error("RTCP packet too short: {len} bytes where at least {needed} are needed")]
    TooShort {
        /// Bytes available.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// Version field is not 2.
    #[error("RTCP version {0} is not supported (expected 2)")]
    BadVersion(u8),
    /// The length field points past the end of the datagram.
    #[error("RTCP length field says {declared} bytes but only {available} remain")]
    LengthMismatch {
        /// Bytes the header declares.
        declared: usize,
        /// Bytes left in the datagram.
        available: usize,
    },
    /// Padding on a packet that is not the last of the compound, or a
    /// padding count of zero or larger than the packet.
    #[error("RTCP padding is invalid (count {count} in a {len}-byte packet)")]
    BadPadding {
        /// Padding count.
        count: u8,
        /// Packet length.
        len: usize,
    },
    /// The packet's body is too short for what its count field claims.
    #[error("RTCP packet type {pt} with count {count} needs {needed} bytes, has {len}")]
    BodyTooShort {
        /// Packet type.
        pt: u8,
        /// Count field (report blocks, chunks or sources).
        count: u8,
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        len: usize,
    },
    /// A BYE reason or SDES item runs past its packet.
    #[error("RTCP text item runs past the end of its packet")]
    TextTruncated,
    /// Building: more than 31 report blocks, sources or chunks.
    #[error("{0} items given, an RTCP packet holds at most 31")]
    TooManyItems(usize),
    /// Building: a BYE reason or SDES text longer than 255 bytes.
    #[error("RTCP text of {0} bytes is longer than 255")]
    TextTooLong(usize),
    /// Building: the caller's buffer is too small.
    #[error("buffer too small for the RTCP packet: need {need} bytes, have {have}")]
    BufferTooSmall {
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
}

/// A reception report block: what one receiver saw of one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: u32,
    /// Fraction of packets lost since the last report, in 1/256.
    pub fraction_lost: u8,
    /// Packets lost since the start: a 24-bit signed value (duplicates can
    /// make it negative).
    pub cumulative_lost: i32,
    /// Highest sequence number received, with the wrap count in the top 16 bits.
    pub highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR from the source.
    pub last_sr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

impl ReportBlock {
    fn read(b: &[u8]) -> Self {
        // Sign-extend the 24-bit cumulative loss.
        let lost = i32::from_be_bytes([b[5], b[6], b[7], 0]) >> 8;
        ReportBlock {
            ssrc: be32(b, 0),
            fraction_lost: b[4],
            cumulative_lost: lost,
            highest_seq: be32(b, 8),
            jitter: be32(b, 12),
            last_sr: be32(b, 16),
            delay_since_last_sr: be32(b, 20),
        }
    }

    fn write(&self, b: &mut [u8]) {
        b[0..4].copy_from_slice(&self.ssrc.to_be_bytes());
        let lost = self.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF);
        let lost = lost.to_be_bytes();
        b[4] = self.fraction_lost;
        b[5..8].copy_from_slice(&lost[1..4]);
        b[8..12].copy_from_slice(&self.highest_seq.to_be_bytes());
        b[12..16].copy_from_slice(&self.jitter.to_be_bytes());
        b[16..20].copy_from_slice(&self.last_sr.to_be_bytes());
        b[20..24].copy_from_slice(&self.delay_since_last_sr.to_be_bytes());
    }
}

/// The sender information of an SR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// Wall-clock time of the report as a 64-bit NTP timestamp.
    pub ntp_timestamp: u64,
    /// The same instant in the RTP timestamp clock.
    pub rtp_timestamp: u32,
    /// Packets sent since the start.
    pub packet_count: u32,
    /// Payload octets sent since the start.
    pub octet_count: u32,
}

/// Report blocks of an SR or RR, read lazily from the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportBlocks<'a>(&'a [u8]);

impl<'a> ReportBlocks<'a> {
    /// Number of blocks.
    pub fn len(&self) -> usize {
        self.0.len() / REPORT_BLOCK_LEN
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The blocks in packet order.
    pub fn iter(&self) -> impl Iterator<Item = ReportBlock> + 'a {
        self.0.chunks_exact(REPORT_BLOCK_LEN).map(ReportBlock::read)
    }
}

/// One packet of a compound RTCP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpPacket<'a> {
    /// Sender report.
    SenderReport {
        /// The sender.
        ssrc: u32,
        /// What it sent.
        info: SenderInfo,
        /// What it received.
        blocks: ReportBlocks<'a>,
    },
    /// Receiver report.
    ReceiverReport {
        /// The reporter.
        ssrc: u32,
        /// What it received.
        blocks: ReportBlocks<'a>,
    },
    /// Goodbye.
    Bye {
        /// The sources leaving, as raw big-endian words.
        sources: ByeSources<'a>,
        /// Optional reason text, raw bytes (not necessarily UTF-8).
        reason: Option<&'a [u8]>,
    },
    /// Any other packet (SDES, APP, feedback, XR), kept whole for callers
    /// that care; the header is checked, the body is not.
    Other {
        /// Packet type.
        packet_type: u8,
        /// The 5-bit count/format field.
        count: u8,
        /// Body after the 4-byte header, without padding.
        body: &'a [u8],
    },
}

/// The SSRC list of a BYE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByeSources<'a>(&'a [u8]);

impl<'a> ByeSources<'a> {
    /// The sources in packet order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + 'a {
        self.0.chunks_exact(4).map(|w| be32(w, 0))
    }
}

/// A validated compound RTCP datagram. Every packet in it was checked when
/// it was parsed, so iterating cannot fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpCompound<'a>(&'a [u8]);

impl<'a> RtcpCompound<'a> {
    /// Parses and checks a whole datagram: version 2 everywhere, lengths
    /// that add up exactly, padding only on the last packet, and bodies long
    /// enough for their counts.
    ///
    /// Unlike RFC 3550 A.2 it does not insist the first packet be an SR or
    /// RR, because reduced-size RTCP (RFC 5506) sends lone packets.
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtcpError> {
        if buf.len() < HEADER_LEN {
            return Err(RtcpError::TooShort {
                len: buf.len(),
                needed: HEADER_LEN,
            });
        }
        let mut rest = buf;
        while !rest.is_empty() {
            let (_, len) = parse_one(rest)?;
            if packet_has_padding(rest) && len != rest.len() {
                return Err(RtcpError::BadPadding {
                    count: rest[len - 1],
                    len,
                });
            }
            rest = &rest[len..];
        }
        Ok(RtcpCompound(buf))
    }

    /// The packets in order.
    pub fn packets(&self) -> impl Iterator<Item = RtcpPacket<'a>> + 'a {
        let mut rest = self.0;
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            // Already validated in `parse`; stop quietly rather than panic.
            let (packet, len) = parse_one(rest).ok()?;
            rest = &rest[len..];
            Some(packet)
        })
    }
}

fn packet_has_padding(buf: &[u8]) -> bool {
    buf[0] & 0x20 != 0
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parses the packet at the start of `buf`; returns it and its length.
fn parse_one(buf: &[u8]) -> Result<(RtcpPacket<'_>, usize), RtcpError> {
    if buf.len() < HEADER_LEN {
        return Err(RtcpError::TooShort {
            len: buf.len(),
            needed: HEADER_LEN,
        });
    }
    let version = buf[0] >> 6;
    if version != 2 {
        return Err(RtcpError::BadVersion(version));
    }
    let count = buf[0] & 0x1F;
    let pt = buf[1];
    let len = 4 * (usize::from(u16::from_be_bytes([buf[2], buf[3]])) + 1);
    if len > buf.len() {
        return Err(RtcpError::LengthMismatch {
            declared: len,
            available: buf.len(),
        });
    }
    let mut body = &buf[HEADER_LEN..len];
    if packet_has_padding(buf) {
        let pad = buf[len - 1];
        if pad == 0 || usize::from(pad) > body.len() {
            return Err(RtcpError::BadPadding { count: pad, len });
        }
        body = &body[..body.len() - usize::from(pad)];
    }
    let short = |needed: usize| RtcpError::BodyTooShort {
        pt,
        count,
        needed,
        len: body.len(),
    };
    let packet = match pt {
        PT_SR => {
            let blocks_at = 4 + SENDER_INFO_LEN;
            let needed = blocks_at + REPORT_BLOCK_LEN * usize::from(count);
            if body.len() < needed {
                return Err(short(needed));
            }
            let ntp = (u64::from(be32(body, 4)) << 32) | u64::from(be32(body, 8));
            RtcpPacket::SenderReport {
                ssrc: be32(body, 0),
                info: SenderInfo {
                    ntp_timestamp: ntp,
                    rtp_timestamp: be32(body, 12),
                    packet_count: be32(body, 16),
                    octet_count: be32(body, 20),
                },
                // Anything after the blocks is a profile extension; ignored.
                blocks: ReportBlocks(&body[blocks_at..needed]),
            }
        }
        PT_RR => {
            let needed = 4 + REPORT_BLOCK_LEN * usize::from(count);
            if body.len() < needed {
                return Err(short(needed));
            }
            RtcpPacket::ReceiverReport {
                ssrc: be32(body, 0),
                blocks: ReportBlocks(&body[4..needed]),
            }
        }
        PT_BYE => {
            let needed = 4 * usize::from(count);
            if body.len() < needed {
                return Err(short(needed));
            }
            let reason = match body.get(needed) {
                None => None,
                Some(&n) => {
                    let text = body
                        .get(needed + 1..needed + 1 + usize::from(n))
                        .ok_or(RtcpError::TextTruncated)?;
                    Some(text)
                }
            };
            RtcpPacket::Bye {
                sources: ByeSources(&body[..needed]),
                reason,
            }
        }
        _ => RtcpPacket::Other {
            packet_type: pt,
            count,
            body,
        },
    };
    Ok((packet, len))
}

/// Builds a compound RTCP datagram in a caller's buffer, one packet after
/// another, with no allocation.
///
/// RFC 3550 6.1 wants every compound packet to start with an SR or RR and
/// carry an SDES CNAME; the writer leaves that order to the caller.
#[derive(Debug)]
pub struct RtcpWriter<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl<'b> RtcpWriter<'b> {
    /// A writer at the start of `buf`.
    pub fn new(buf: &'b mut [u8]) -> Self {
        RtcpWriter { buf, pos: 0 }
    }

    /// Bytes written so far: the datagram is `&buf[..len]`.
    pub fn len(&self) -> usize {
        self.pos
    }

    /// True if nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.pos == 0
    }

    /// Reserves `body_len` bytes (a multiple of 4) after a header and
    /// returns the body to fill; nothing is written if it does not fit.
    fn packet(&mut self, pt: u8, count: usize, body_len: usize) -> Result<&mut [u8], RtcpError> {
        if count > 31 {
            return Err(RtcpError::TooManyItems(count));
        }
        let need = self.pos + HEADER_LEN + body_len;
        if need > self.buf.len() {
            return Err(RtcpError::BufferTooSmall {
                need,
                have: self.buf.len(),
            });
        }
        let words = ((HEADER_LEN + body_len) / 4 - 1) as u16;
        let p = &mut self.buf[self.pos..need];
        p[0] = 0x80 | count as u8;
        p[1] = pt;
        p[2..4].copy_from_slice(&words.to_be_bytes());
        self.pos = need;
        Ok(&mut p[HEADER_LEN..])
    }

    /// Appends a sender report.
    pub fn sender_report(
        &mut self,
        ssrc: u32,
        info: &SenderInfo,
        blocks: &[ReportBlock],
    ) -> Result<(), RtcpError> {
        let body_len = 4 + SENDER_INFO_LEN + REPORT_BLOCK_LEN * blocks.len();
        let b = self.packet(PT_SR, blocks.len(), body_len)?;
        b[0..4].copy_from_slice(&ssrc.to_be_bytes());
        b[4..12].copy_from_slice(&info.ntp_timestamp.to_be_bytes());
        b[12..16].copy_from_slice(&info.rtp_timestamp.to_be_bytes());
        b[16..20].copy_from_slice(&info.packet_count.to_be_bytes());
        b[20..24].copy_from_slice(&info.octet_count.to_be_bytes());
        for (chunk, block) in b[24..].chunks_exact_mut(REPORT_BLOCK_LEN).zip(blocks) {
            block.write(chunk);
        }
        Ok(())
    }

    /// Appends a receiver report.
    pub fn receiver_report(&mut self, ssrc: u32, blocks: &[ReportBlock]) -> Result<(), RtcpError> {
        let body_len = 4 + REPORT_BLOCK_LEN * blocks.len();
        let b = self.packet(PT_RR, blocks.len(), body_len)?;
        b[0..4].copy_from_slice(&ssrc.to_be_bytes());
        for (chunk, block) in b[4..].chunks_exact_mut(REPORT_BLOCK_LEN).zip(blocks) {
            block.write(chunk);
        }
        Ok(())
    }

    /// Appends an SDES packet with one chunk carrying a CNAME, the one item
    /// RFC 3550 requires in every compound packet.
    pub fn sdes_cname(&mut self, ssrc: u32, cname: &str) -> Result<(), RtcpError> {
        let text = cname.as_bytes();
        if text.len() > 255 {
            return Err(RtcpError::TextTooLong(text.len()));
        }
        // SSRC, item type, length, text, then at least one zero byte that
        // ends the item list, padded to a word.
        let body_len = (4 + 2 + text.len() + 1).div_ceil(4) * 4;
        let b = self.packet(PT_SDES, 1, body_len)?;
        b[0..4].copy_from_slice(&ssrc.to_be_bytes());
        b[4] = SDES_CNAME;
        b[5] = text.len() as u8;
        b[6..6 + text.len()].copy_from_slice(text);
        b[6 + text.len()..].fill(0);
        Ok(())
    }

    /// Appends a BYE for `sources`, with an optional reason.
    pub fn bye(&mut self, sources: &[u32], reason: Option<&str>) -> Result<(), RtcpError> {
        let reason = reason.map(str::as_bytes);
        let reason_len = match reason {
            Some(r) if r.len() > 255 => return Err(RtcpError::TextTooLong(r.len())),
            Some(r) => (1 + r.len()).div_ceil(4) * 4,
            None => 0,
        };
        let at = 4 * sources.len();
        let b = self.packet(PT_BYE, sources.len(), at + reason_len)?;
        for (chunk, s) in b.chunks_exact_mut(4).zip(sources) {
            chunk.copy_from_slice(&s.to_be_bytes());
        }
        if let Some(r) = reason {
            b[at] = r.len() as u8;
            b[at + 1..at + 1 + r.len()].copy_from_slice(r);
            b[at + 1 + r.len()..].fill(0);
        }
        Ok(())
    }
}

/// Converts time since the Unix epoch into a 64-bit NTP timestamp, for
/// [`SenderInfo::ntp_timestamp`]; the caller reads the wall clock.
pub fn ntp_timestamp(since_unix_epoch: Duration) -> u64 {
    const UNIX_TO_NTP_SECS: u64 = 2_208_988_800;
    let secs = since_unix_epoch.as_secs().wrapping_add(UNIX_TO_NTP_SECS);
    let frac = (u64::from(since_unix_epoch.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}
