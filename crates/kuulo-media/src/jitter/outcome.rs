//! What the two halves of the jitter buffer report for each call.

/// What [`JitterProducer::push`](super::JitterProducer::push) did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Stored for playout.
    Accepted,
    /// Already received; dropped.
    Duplicate,
    /// Its turn has passed (or a newer packet holds its slot); dropped.
    Late,
    /// The ring was full at its slot; dropped.
    Overflow,
    /// Payload above `max_payload`; dropped.
    TooLarge,
    /// A sequence jump awaiting confirmation by the next packet; dropped.
    Stray,
}

/// What one playout tick gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Playout<'a> {
    /// A received frame.
    Frame {
        /// Its RTP sequence number.
        seq: u16,
        /// Its RTP timestamp.
        timestamp: u32,
        /// Its payload, valid until the next pop.
        payload: &'a [u8],
    },
    /// Play concealment: `lost` if a packet is missing, otherwise a frame
    /// inserted in silence to grow the delay.
    Concealment {
        /// A packet was lost or late (as opposed to an inserted frame).
        lost: bool,
    },
    /// Buffering: nothing to play yet (start, or after running dry).
    Empty,
}
