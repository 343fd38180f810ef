//! Construction parameters and counters of the jitter buffer.

use thiserror::Error;

/// Construction parameters of a [`JitterBuffer`](super::JitterBuffer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JitterConfig {
    /// Ring slots; a power of two, at least twice `max_delay_frames`.
    pub capacity: usize,
    /// Largest payload accepted, in bytes (160..=1920).
    pub max_payload: usize,
    /// RTP clock rate, for the RFC 3550 jitter estimate.
    pub clock_rate: u32,
    /// Timestamp units per packet (160 for 20 ms at 8 kHz).
    pub frame_samples: u32,
    /// Lower bound of the adaptive target delay, in frames.
    pub min_delay_frames: u32,
    /// Upper bound of the adaptive target delay, in frames.
    pub max_delay_frames: u32,
    /// Ticks the target must stay above what jitter asks before it shrinks
    /// by one frame: shrinking slowly avoids pumping on bursty links.
    pub shrink_after_ticks: u32,
    /// Largest forward sequence jump still taken as loss (RFC 3550 A.1).
    pub max_dropout: u16,
    /// Largest backward sequence step still taken as reordering.
    pub max_misorder: u16,
    /// A timestamp step this far from what the sequence step implies resets
    /// the jitter estimate (a new talk spurt clock, a re-INVITE).
    pub max_timestamp_jump: u32,
}

impl Default for JitterConfig {
    fn default() -> Self {
        Self {
            capacity: 64,
            max_payload: 320,
            clock_rate: 8000,
            frame_samples: 160,
            min_delay_frames: 2,
            max_delay_frames: 20,
            shrink_after_ticks: 250,
            max_dropout: 3000,
            max_misorder: 100,
            max_timestamp_jump: 8000 * 10,
        }
    }
}

/// Why a [`JitterConfig`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JitterConfigError {
    /// The ring size is not a power of two or too small for `max_delay_frames`.
    #[error(
        "capacity {capacity} must be a power of two >= 2 * max_delay_frames ({max_delay_frames})"
    )]
    Capacity {
        /// Configured ring size.
        capacity: usize,
        /// Configured maximum delay.
        max_delay_frames: u32,
    },
    /// `max_payload` is outside 160..=1920 bytes.
    #[error("max_payload {0} outside 160..=1920")]
    MaxPayload(usize),
    /// The delay bounds are empty or reversed.
    #[error("delay bounds {min}..={max} frames are invalid")]
    DelayBounds {
        /// Configured minimum.
        min: u32,
        /// Configured maximum.
        max: u32,
    },
    /// Clock rate or frame size is zero.
    #[error("clock_rate and frame_samples must be non-zero")]
    Clock,
}

pub(super) fn validate(c: &JitterConfig) -> Result<(), JitterConfigError> {
    if !c.capacity.is_power_of_two() || (c.capacity as u64) < 2 * u64::from(c.max_delay_frames) {
        return Err(JitterConfigError::Capacity {
            capacity: c.capacity,
            max_delay_frames: c.max_delay_frames,
        });
    }
    if !(160..=1920).contains(&c.max_payload) {
        return Err(JitterConfigError::MaxPayload(c.max_payload));
    }
    if c.min_delay_frames == 0 || c.min_delay_frames > c.max_delay_frames {
        return Err(JitterConfigError::DelayBounds {
            min: c.min_delay_frames,
            max: c.max_delay_frames,
        });
    }
    if c.clock_rate == 0 || c.frame_samples == 0 {
        return Err(JitterConfigError::Clock);
    }
    Ok(())
}

/// Counters of both halves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets offered to `push`.
    pub received: u64,
    /// Packets stored.
    pub accepted: u64,
    /// Packets dropped as duplicates.
    pub duplicates: u64,
    /// Packets dropped because their turn had passed.
    pub late: u64,
    /// Packets dropped because their slot was busy.
    pub overflow: u64,
    /// Stored packets overwritten before playout (consumer stalled).
    pub evicted: u64,
    /// Packets dropped while a sequence jump awaited confirmation.
    pub stray: u64,
    /// Packets dropped for an oversized payload.
    pub too_large: u64,
    /// SSRC changes, confirmed sequence restarts and timestamp jumps.
    pub resyncs: u64,
    /// RFC 3550 interarrival jitter, in timestamp units.
    pub jitter: u64,
    /// Frames handed to the playout.
    pub played: u64,
    /// Concealment frames for missing packets.
    pub concealed: u64,
    /// Concealment frames inserted in silence to grow the delay.
    pub inserted: u64,
    /// Silent frames dropped to shrink the delay (drift, past jitter).
    pub dropped: u64,
    /// Times the buffer ran dry while playing.
    pub underruns: u64,
    /// Frames skipped to cut a backlog beyond twice the maximum delay.
    pub skipped: u64,
    /// Current adaptive target delay, in frames.
    pub target_frames: u32,
}
