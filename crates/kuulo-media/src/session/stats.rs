//! Per-session counters and the send-interval histogram.

use std::time::Duration;

/// Histogram bucket width for send-interval deviation.
const BUCKET_US: u64 = 250;
/// Buckets cover 0-16 ms; larger deviations land in the last one.
const BUCKETS: usize = 64;

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

impl IntervalHistogram {
    pub(crate) fn record(&mut self, deviation: Duration) {
        let us = u64::try_from(deviation.as_micros()).unwrap_or(u64::MAX);
        let b = ((us / BUCKET_US) as usize).min(BUCKETS - 1);
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
    /// the bucket's upper edge (0.25 ms resolution, capped at 16 ms).
    pub fn quantile(&self, q: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let want = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += u64::from(n);
            if seen >= want {
                return Duration::from_micros((i as u64 + 1) * BUCKET_US);
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
