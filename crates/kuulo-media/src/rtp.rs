//! RTP packets (RFC 3550 section 5): a zero-copy parser, an allocation-free
//! builder, and sequence-number unwrapping.
//!
//! The parser borrows the datagram and only checks what RFC 3550 A.1 says a
//! receiver can check without knowing the source, so it is cheap enough to
//! run on every packet of thousands of calls and never panics on what a
//! peer sends.

use thiserror::Error;

/// Length of the fixed RTP header, before CSRCs and extension.
pub const RTP_HEADER_LEN: usize = 12;
/// The only RTP version in use (RFC 3550).
pub const RTP_VERSION: u8 = 2;
/// At most 15 CSRCs fit in the 4-bit CC field.
pub const MAX_CSRC: usize = 15;

/// Why a datagram is not a valid RTP packet, or why a packet cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtpError {
    /// Fewer bytes than the fixed header.
    #[error("RTP packet too short: {len} bytes, the fixed header needs 12")]
    TooShort {
        /// Bytes received.
        len: usize,
    },
    /// Version field is not 2.
    #[error("RTP version {0} is not supported (expected 2)")]
    BadVersion(u8),
    /// The CSRC list runs past the end of the packet.
    #[error("RTP CSRC count {count} needs {needed} header bytes but the packet has {len}")]
    CsrcTruncated {
        /// CC field.
        count: u8,
        /// Bytes the header needs.
        needed: usize,
        /// Bytes received.
        len: usize,
    },
    /// The X bit is set but the extension header or its data is cut short.
    #[error("RTP header extension needs {needed} bytes but the packet has {len}")]
    ExtensionTruncated {
        /// Bytes the header needs up to the end of the extension.
        needed: usize,
        /// Bytes received.
        len: usize,
    },
    /// The P bit is set but the padding count is zero or larger than the
    /// bytes that follow the header.
    #[error("RTP padding count {count} is invalid: {available} bytes follow the header")]
    BadPadding {
        /// Last byte of the packet.
        count: u8,
        /// Bytes after the header (payload plus padding).
        available: usize,
    },
    /// Building: the payload type does not fit in 7 bits.
    #[error("RTP payload type {0} does not fit in 7 bits")]
    BadPayloadType(u8),
    /// Building: more than 15 CSRCs.
    #[error("{0} CSRCs given, RTP allows at most 15")]
    TooManyCsrcs(usize),
    /// Building: extension data is not a whole number of 32-bit words or is
    /// longer than the 16-bit length field can describe.
    #[error("RTP extension data of {0} bytes is not a multiple of 4 up to 262140")]
    BadExtensionLength(usize),
    /// Building: the caller's buffer is too small.
    #[error("buffer of {have} bytes is too small for a {need}-byte RTP packet")]
    BufferTooSmall {
        /// Bytes the packet needs.
        need: usize,
        /// Bytes in the caller's buffer.
        have: usize,
    },
}

/// A header extension (RFC 3550 5.3.1): a profile-defined 16-bit value and
/// data that is a whole number of 32-bit words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpExtension<'a> {
    /// The "defined by profile" field (0xBEDE for RFC 8285 one-byte headers).
    pub profile: u16,
    /// Extension data, without the 4-byte extension header.
    pub data: &'a [u8],
}

/// A parsed RTP packet borrowing the datagram it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// Marker bit: for audio, the first packet of a talkspurt.
    pub marker: bool,
    /// Payload type (7 bits).
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// Media timestamp, in the payload's clock rate.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// CSRC list as raw big-endian words, so parsing never copies.
    csrc: &'a [u8],
    /// Header extension, if the X bit was set.
    pub extension: Option<RtpExtension<'a>>,
    /// Payload, without padding.
    pub payload: &'a [u8],
    /// Padding bytes that followed the payload (0 if the P bit was clear).
    pub padding: u8,
}

impl<'a> RtpPacket<'a> {
    /// Parses one RTP packet from a datagram.
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpError> {
        let len = buf.len();
        if len < RTP_HEADER_LEN {
            return Err(RtpError::TooShort { len });
        }
        let b0 = buf[0];
        let version = b0 >> 6;
        if version != RTP_VERSION {
            return Err(RtpError::BadVersion(version));
        }
        let has_padding = b0 & 0x20 != 0;
        let has_extension = b0 & 0x10 != 0;
        let cc = b0 & 0x0F;
        let b1 = buf[1];
        let mut pos = RTP_HEADER_LEN + 4 * usize::from(cc);
        if pos > len {
            return Err(RtpError::CsrcTruncated {
                count: cc,
                needed: pos,
                len,
            });
        }
        let csrc = &buf[RTP_HEADER_LEN..pos];
        let extension = if has_extension {
            if pos + 4 > len {
                return Err(RtpError::ExtensionTruncated {
                    needed: pos + 4,
                    len,
                });
            }
            let profile = u16::from_be_bytes([buf[pos], buf[pos + 1]]);
            let words = usize::from(u16::from_be_bytes([buf[pos + 2], buf[pos + 3]]));
            let start = pos + 4;
            let end = start + 4 * words;
            if end > len {
                return Err(RtpError::ExtensionTruncated { needed: end, len });
            }
            pos = end;
            Some(RtpExtension {
                profile,
                data: &buf[start..end],
            })
        } else {
            None
        };
        let mut end = len;
        let mut padding = 0;
        if has_padding {
            let count = buf[len - 1];
            let available = len - pos;
            if count == 0 || usize::from(count) > available {
                return Err(RtpError::BadPadding { count, available });
            }
            padding = count;
            end -= usize::from(count);
        }
        Ok(RtpPacket {
            marker: b1 & 0x80 != 0,
            payload_type: b1 & 0x7F,
            sequence: u16::from_be_bytes([buf[2], buf[3]]),
            timestamp: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
            csrc,
            extension,
            payload: &buf[pos..end],
            padding,
        })
    }

    /// Number of CSRCs in the header.
    pub fn csrc_count(&self) -> usize {
        self.csrc.len() / 4
    }

    /// The contributing sources, in header order.
    pub fn csrcs(&self) -> impl Iterator<Item = u32> + 'a {
        self.csrc
            .chunks_exact(4)
            .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
    }

    /// The payload as a zero-copy slice of `datagram`, for callers that
    /// keep packets as `Bytes` (e.g. queued for the jitter buffer).
    ///
    /// `datagram` must be the buffer this packet was parsed from; otherwise
    /// an empty `Bytes` is returned rather than a panic.
    pub fn payload_bytes(&self, datagram: &bytes::Bytes) -> bytes::Bytes {
        let base = datagram.as_ptr() as usize;
        let start = self.payload.as_ptr() as usize;
        match start.checked_sub(base) {
            Some(off) if off + self.payload.len() <= datagram.len() => {
                datagram.slice(off..off + self.payload.len())
            }
            _ => bytes::Bytes::new(),
        }
    }
}

/// The fields of an RTP packet to write with [`RtpBuilder::write_to`].
///
/// Borrowing everything lets a sender build packets straight into a send
/// buffer with no allocation per packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtpBuilder<'a> {
    /// Marker bit.
    pub marker: bool,
    /// Payload type (must fit in 7 bits).
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// Media timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Contributing sources (at most 15).
    pub csrc: &'a [u32],
    /// Header extension, whose data must be a multiple of 4 bytes.
    pub extension: Option<RtpExtension<'a>>,
    /// Payload.
    pub payload: &'a [u8],
    /// Padding bytes to append (0 for none); the last holds the count.
    pub padding: u8,
}

impl RtpBuilder<'_> {
    /// Bytes the packet will take on the wire.
    pub fn len(&self) -> usize {
        RTP_HEADER_LEN
            + 4 * self.csrc.len()
            + self.extension.map_or(0, |e| 4 + e.data.len())
            + self.payload.len()
            + usize::from(self.padding)
    }

    /// True if the packet is nothing but a fixed header.
    pub fn is_empty(&self) -> bool {
        self.len() == RTP_HEADER_LEN
    }

    /// Writes the packet at the start of `buf` and returns its length.
    pub fn write_to(&self, buf: &mut [u8]) -> Result<usize, RtpError> {
        if self.payload_type > 0x7F {
            return Err(RtpError::BadPayloadType(self.payload_type));
        }
        if self.csrc.len() > MAX_CSRC {
            return Err(RtpError::TooManyCsrcs(self.csrc.len()));
        }
        if let Some(ext) = self.extension {
            if ext.data.len() % 4 != 0 || ext.data.len() / 4 > usize::from(u16::MAX) {
                return Err(RtpError::BadExtensionLength(ext.data.len()));
            }
        }
        let need = self.len();
        if buf.len() < need {
            return Err(RtpError::BufferTooSmall {
                need,
                have: buf.len(),
            });
        }
        let buf = &mut buf[..need];
        buf[0] = (RTP_VERSION << 6)
            | (u8::from(self.padding > 0) << 5)
            | (u8::from(self.extension.is_some()) << 4)
            | self.csrc.len() as u8;
        buf[1] = (u8::from(self.marker) << 7) | self.payload_type;
        buf[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        buf[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        buf[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        let mut pos = RTP_HEADER_LEN;
        for c in self.csrc {
            buf[pos..pos + 4].copy_from_slice(&c.to_be_bytes());
            pos += 4;
        }
        if let Some(ext) = self.extension {
            buf[pos..pos + 2].copy_from_slice(&ext.profile.to_be_bytes());
            let words = (ext.data.len() / 4) as u16;
            buf[pos + 2..pos + 4].copy_from_slice(&words.to_be_bytes());
            pos += 4;
            buf[pos..pos + ext.data.len()].copy_from_slice(ext.data);
            pos += ext.data.len();
        }
        buf[pos..pos + self.payload.len()].copy_from_slice(self.payload);
        pos += self.payload.len();
        if self.padding > 0 {
            let end = pos + usize::from(self.padding);
            buf[pos..end].fill(0);
            buf[end - 1] = self.padding;
        }
        Ok(need)
    }
}

/// One sequence number placed in the unwrapped 64-bit space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extended {
    /// The extended sequence number: 16 low bits from the packet, the rest
    /// counting wraps past 65535.
    pub seq: u64,
    /// True if this packet is newer than any seen before from this source.
    pub is_newest: bool,
    /// True if the SSRC differs from the previous packet's, which restarts
    /// the numbering: the peer switched streams (re-INVITE, transfer, a
    /// media server taking over), so old sequence state means nothing.
    pub ssrc_changed: bool,
}

/// Unwraps 16-bit RTP sequence numbers into a monotonic 64-bit space, one
/// source at a time.
///
/// A packet is placed at the extended number nearest the highest seen so
/// far, so reordering within half the sequence space (32,768 packets, over
/// ten minutes of 20 ms audio) across a wrap is handled. Loss and restart
/// heuristics (RFC 3550 A.1 probation and dropouts) are the receiver
/// statistics' business, not this type's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtendedSeq {
    state: Option<(u32, u64)>,
}

impl ExtendedSeq {
    /// A tracker that has seen no packet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The SSRC being tracked and the highest extended number seen from it.
    pub fn highest(&self) -> Option<(u32, u64)> {
        self.state
    }

    /// Forgets everything, so the next packet starts a new numbering.
    pub fn reset(&mut self) {
        self.state = None;
    }

    /// Where `seq` from the tracked source would land, without recording it.
    /// `None` if no source is tracked yet or `seq` would fall before the
    /// very first packet.
    pub fn peek(&self, seq: u16) -> Option<u64> {
        let (_, highest) = self.state?;
        let delta = i64::from(seq.wrapping_sub(highest as u16) as i16);
        u64::try_from(highest as i64 + delta).ok()
    }

    /// Records a packet and returns its extended number, or `None` for a
    /// late packet that would fall before the first one of its source
    /// (which cannot be numbered and is too old to play anyway).
    pub fn update(&mut self, ssrc: u32, seq: u16) -> Option<Extended> {
        match self.state {
            Some((tracked, highest)) if tracked == ssrc => {
                let ext = self.peek(seq)?;
                let is_newest = ext > highest;
                if is_newest {
                    self.state = Some((ssrc, ext));
                }
                Some(Extended {
                    seq: ext,
                    is_newest,
                    ssrc_changed: false,
                })
            }
            previous => {
                self.state = Some((ssrc, u64::from(seq)));
                Some(Extended {
                    seq: u64::from(seq),
                    is_newest: true,
                    ssrc_changed: previous.is_some(),
                })
            }
        }
    }
}
