//! Per-session counters and the send-interval histogram.

use std::time::Duration;

/// Histogram bucket width for send-interval deviation, up to 16 ms.
const BUCKET_US: u64 = 250;
/// Fine buckets: 0-16 ms in 0.25 ms steps.
const FINE: usize = 64;
/// Upper edges of the coarse buckets past 16 ms, so a bad tail is
/// reported as what it is (a late tick under load is 20 to 60 ms late)
/// rather than as "16 ms or more"; the last bucket takes the rest.
const TAIL_US: [u64; 8] = [
    20_000,
    25_000,
    32_000,
    40_000,
    50_000,
    64_000,
    100_000,
    u64::MAX,
];
const BUCKETS: usize = FINE + TAIL_US.len();

/// How far each send interval strayed from 20 ms, kept as a fixed
/// histogram so recording it never allocates and quantiles are cheap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntervalHistogram {
    buckets: [u32; BUCKETS],
    count: u64,
    sum_us: u64,
    max_us: u64,
}

impl Default for IntervalHistogram {
    fn default() -> Self {
        Self {
            buckets: [0; BUCKETS],
            count: 0,
            sum_us: 0,
            max_us: 0,
        }
    }
}

/// The bucket of a deviation of `us` microseconds.
fn bucket(us: u64) -> usize {
    let fine = (us / BUCKET_US) as usize;
    if fine < FINE {
        return fine;
    }
    FINE + TAIL_US
        .iter()
        .position(|&edge| us < edge)
        .unwrap_or(TAIL_US.len() - 1)
}

/// The upper edge of bucket `i`, in microseconds (`u64::MAX` for the last).
fn upper_edge(i: usize) -> u64 {
    if i < FINE {
        (i as u64 + 1) * BUCKET_US
    } else {
        TAIL_US[i - FINE]
    }
}

impl IntervalHistogram {
    pub(crate) fn record(&mut self, deviation: Duration) {
        let us = u64::try_from(deviation.as_micros()).unwrap_or(u64::MAX);
        let b = bucket(us);
        self.buckets[b] = self.buckets[b].saturating_add(1);
        self.count += 1;
        self.sum_us = self.sum_us.saturating_add(us);
        self.max_us = self.max_us.max(us);
    }

    /// Intervals measured.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Largest deviation.
    pub fn max(&self) -> Duration {
        Duration::from_micros(self.max_us)
    }

    /// Mean deviation.
    pub fn mean(&self) -> Duration {
        Duration::from_micros(self.sum_us.checked_div(self.count).unwrap_or(0))
    }

    /// The deviation below which a share `q` (0-1) of intervals fall, to
    /// the bucket's upper edge: 0.25 ms resolution up to 16 ms, then edges
    /// at 20, 25, 32, 40, 50, 64 and 100 ms, never above the largest seen.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let want = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += u64::from(n);
            if seen >= want {
                return Duration::from_micros(upper_edge(i).min(self.max_us.max(1)));
            }
        }
        self.max()
    }

    /// Adds another histogram, to sum a shard's sessions.
    pub fn merge(&mut self, other: &IntervalHistogram) {
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a = a.saturating_add(*b);
        }
        self.count += other.count;
        self.sum_us = self.sum_us.saturating_add(other.sum_us);
        self.max_us = self.max_us.max(other.max_us);
    }
}

/// What one session saw and did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// RTP packets sent (audio and telephone-event).
    pub packets_sent: u64,
    /// RTP payload octets sent.
    pub bytes_sent: u64,
    /// RTP packets accepted.
    pub packets_received: u64,
    /// RTP payload octets accepted.
    pub bytes_received: u64,
    /// RTCP datagrams sent.
    pub rtcp_sent: u64,
    /// RTCP datagrams accepted.
    pub rtcp_received: u64,
    /// Datagrams that were neither valid RTP nor valid RTCP.
    pub malformed: u64,
    /// Datagrams from an address the latch policy refuses.
    pub rejected_source: u64,
    /// RTP with a payload type not negotiated (e.g. comfort noise).
    pub unknown_payload_type: u64,
    /// Packets lost, from the receiver statistics of RFC 3550 A.3.
    pub lost: i64,
    /// Packets that arrived after their playout time.
    pub late: u64,
    /// Interarrival jitter in timestamp units (RFC 3550 A.8).
    pub jitter: u32,
    /// Frames played as concealment.
    pub concealed: u64,
    /// Received payloads the decoder refused (played as silence), and
    /// tone frames the encoder failed on.
    pub codec_errors: u64,
    /// Send ticks skipped because the driver woke too late.
    pub ticks_skipped: u64,
    /// Packets dropped because the driver did not drain transmits.
    pub transmit_overflow: u64,
    /// Deviation of each send interval from 20 ms.
    pub send_interval: IntervalHistogram,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: f64) -> Duration {
        Duration::from_micros((v * 1000.0) as u64)
    }

    #[test]
    fn quantiles_are_fine_up_to_16_ms_and_coarse_but_honest_beyond() {
        let mut h = IntervalHistogram::default();
        // 97 on-time intervals, then three late ticks of a loaded shard.
        for _ in 0..97 {
            h.record(ms(0.1));
        }
        for late in [18.0, 37.0, 150.0] {
            h.record(ms(late));
        }
        assert_eq!(h.quantile(0.5), ms(0.25), "the bucket's upper edge");
        assert_eq!(h.quantile(0.97), ms(0.25));
        assert_eq!(h.quantile(0.98), ms(20.0));
        assert_eq!(h.quantile(0.99), ms(40.0), "37 ms is not reported as 16");
        assert_eq!(h.quantile(1.0), ms(150.0), "never above the largest seen");

        let mut fine = IntervalHistogram::default();
        fine.record(ms(0.3));
        fine.record(ms(0.9));
        assert_eq!(fine.quantile(0.5), ms(0.5));
        assert_eq!(fine.quantile(1.0), ms(0.9));

        // A shard sums its sessions.
        h.merge(&fine);
        assert_eq!(h.count(), 102);
        assert_eq!(h.max(), ms(150.0));
    }

    #[test]
    fn every_deviation_has_a_bucket() {
        for us in [
            0,
            249,
            250,
            15_999,
            16_000,
            19_999,
            20_000,
            99_999,
            100_000,
            u64::MAX,
        ] {
            let b = bucket(us);
            assert!(b < BUCKETS, "{us} µs");
            assert!(us < upper_edge(b) || upper_edge(b) == u64::MAX, "{us} µs");
        }
    }
}
