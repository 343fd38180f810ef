//! Receiver statistics for report blocks (RFC 3550 A.1, A.3, A.8).

use super::ReportBlock;
use std::time::Instant;

/// Sequential packets a new source must send before it counts (RFC 3550 A.1).
const MIN_SEQUENTIAL: u32 = 2;
/// Forward jump beyond which a packet is taken as a restart, not loss.
const MAX_DROPOUT: u16 = 3000;
/// Backward distance within which a packet is taken as reordered.
const MAX_MISORDER: u16 = 100;
const SEQ_MOD: u32 = 1 << 16;

/// What a receiver knows of one source: loss and jitter as RFC 3550
/// A.1/A.3/A.8 define them, for the report blocks it sends back.
///
/// Time is passed in; the stats never read a clock.
#[derive(Debug, Clone)]
pub struct ReceiverStats {
    ssrc: u32,
    clock_rate: u32,
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    probation: u32,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    epoch: Option<Instant>,
    transit: Option<u32>,
    /// Jitter in 1/16 timestamp units, as the A.8 integer form keeps it.
    jitter_q4: u32,
    last_sr: Option<(u32, Instant)>,
}

impl ReceiverStats {
    /// Starts tracking `ssrc`, whose first packet carried `first_seq`;
    /// `clock_rate` is the payload's RTP clock (8000 for G.711). Feed every
    /// packet to [`on_packet`](Self::on_packet), the first one included. A
    /// new SSRC is a new source: start new stats for it.
    pub fn new(ssrc: u32, first_seq: u16, clock_rate: u32) -> Self {
        let mut s = ReceiverStats {
            ssrc,
            clock_rate: clock_rate.max(1),
            max_seq: first_seq.wrapping_sub(1),
            cycles: 0,
            base_seq: 0,
            bad_seq: 0,
            probation: MIN_SEQUENTIAL,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            epoch: None,
            transit: None,
            jitter_q4: 0,
            last_sr: None,
        };
        s.init_seq(first_seq);
        s.max_seq = first_seq.wrapping_sub(1);
        s
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
    }

    /// The source.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Records a packet that arrived at `now`; returns false if RFC 3550
    /// A.1 says it is not (yet) valid: the source is still on probation or
    /// the packet jumped far from the expected sequence.
    pub fn on_packet(&mut self, now: Instant, seq: u16, rtp_timestamp: u32) -> bool {
        let valid = self.update_seq(seq);
        if valid {
            self.update_jitter(now, rtp_timestamp);
        }
        valid
    }

    fn update_seq(&mut self, seq: u16) -> bool {
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    self.received += 1;
                    return true;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return false;
        } else if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(SEQ_MOD);
            }
            self.max_seq = seq;
        } else if u32::from(udelta) <= SEQ_MOD - u32::from(MAX_MISORDER) {
            if u32::from(seq) == self.bad_seq {
                // Two packets in sequence after a big jump: the peer
                // restarted without telling us, so start over.
                self.init_seq(seq);
                self.transit = None;
            } else {
                self.bad_seq = (u32::from(seq) + 1) & (SEQ_MOD - 1);
                return false;
            }
        }
        // Else a duplicate or reordered packet: counted, not a new maximum.
        self.received = self.received.wrapping_add(1);
        true
    }

    fn update_jitter(&mut self, now: Instant, rtp_timestamp: u32) {
        let epoch = *self.epoch.get_or_insert(now);
        let elapsed = now.saturating_duration_since(epoch);
        let arrival = (elapsed.as_nanos() * u128::from(self.clock_rate) / 1_000_000_000) as u32;
        let transit = arrival.wrapping_sub(rtp_timestamp);
        if let Some(prev) = self.transit.replace(transit) {
            let d = (transit.wrapping_sub(prev) as i32).unsigned_abs();
            // J += (|D| - J) / 16, kept scaled by 16 to stay in integers.
            self.jitter_q4 = self
                .jitter_q4
                .wrapping_add(d)
                .wrapping_sub(self.jitter_q4.wrapping_add(8) >> 4);
        }
    }

    /// Records an SR from the source, received at `now`, for LSR/DLSR.
    pub fn on_sender_report(&mut self, now: Instant, ntp_timestamp: u64) {
        self.last_sr = Some(((ntp_timestamp >> 16) as u32, now));
    }

    /// Highest extended sequence number received: wraps in the top bits.
    pub fn extended_max(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    /// Packets expected since the first valid one.
    pub fn expected(&self) -> u32 {
        if self.probation > 0 {
            return 0;
        }
        self.extended_max()
            .wrapping_sub(self.base_seq)
            .wrapping_add(1)
    }

    /// Valid packets received, duplicates included (as RFC 3550 counts).
    pub fn received(&self) -> u32 {
        self.received
    }

    /// Packets lost since the start; negative when duplicates outnumber losses.
    pub fn cumulative_lost(&self) -> i64 {
        i64::from(self.expected()) - i64::from(self.received)
    }

    /// Interarrival jitter in timestamp units.
    pub fn jitter(&self) -> u32 {
        self.jitter_q4 >> 4
    }

    /// Builds the report block for this source at `now` and starts a new
    /// reporting interval (the fraction lost covers the interval since the
    /// previous call).
    pub fn report_block(&mut self, now: Instant) -> ReportBlock {
        let expected = self.expected();
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        self.expected_prior = expected;
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.received_prior = self.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / i64::from(expected_interval)).min(255) as u8
        };
        let (last_sr, delay_since_last_sr) = match self.last_sr {
            Some((lsr, at)) => {
                let d = now.saturating_duration_since(at);
                let units =
                    d.as_secs() * 65536 + (u64::from(d.subsec_nanos()) << 16) / 1_000_000_000;
                (lsr, units.min(u64::from(u32::MAX)) as u32)
            }
            None => (0, 0),
        };
        ReportBlock {
            ssrc: self.ssrc,
            fraction_lost,
            cumulative_lost: self.cumulative_lost().clamp(-0x80_0000, 0x7F_FFFF) as i32,
            highest_seq: self.extended_max(),
            jitter: self.jitter(),
            last_sr,
            delay_since_last_sr,
        }
    }
}
