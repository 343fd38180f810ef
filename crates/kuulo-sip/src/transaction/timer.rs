//! RFC 3261 section 17 timers as a fixed table, in the manner of
//! quinn-proto's `TimerTable`: no timer objects, no allocation, and the next
//! deadline is a scan of a dozen slots.

use std::time::{Duration, Instant};

/// The timers of the four transaction state machines (RFC 3261 17, with
/// L and M of RFC 6026).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// INVITE client: retransmit the request.
    A,
    /// INVITE client: give up waiting for a response.
    B,
    /// INVITE client: wait for response retransmissions after a non-2xx.
    D,
    /// Non-INVITE client: retransmit the request.
    E,
    /// Non-INVITE client: give up waiting for a final response.
    F,
    /// INVITE server: retransmit a non-2xx final response.
    G,
    /// INVITE server: give up waiting for the ACK.
    H,
    /// INVITE server: absorb ACK retransmissions.
    I,
    /// Non-INVITE server: absorb request retransmissions.
    J,
    /// Non-INVITE client: absorb response retransmissions.
    K,
    /// INVITE server (RFC 6026): absorb INVITE retransmissions after a 2xx.
    L,
    /// INVITE client (RFC 6026): accept 2xx retransmissions from forks.
    M,
}

const COUNT: usize = 12;

impl Timer {
    fn index(self) -> usize {
        self as usize
    }

    const ALL: [Timer; COUNT] = [
        Timer::A,
        Timer::B,
        Timer::D,
        Timer::E,
        Timer::F,
        Timer::G,
        Timer::H,
        Timer::I,
        Timer::J,
        Timer::K,
        Timer::L,
        Timer::M,
    ];
}

/// Deadlines of the running timers.
#[derive(Clone, Debug, Default)]
pub struct TimerTable {
    data: [Option<Instant>; COUNT],
}

impl TimerTable {
    /// Starts (or restarts) `timer` to fire at `now + after`.
    pub fn set(&mut self, timer: Timer, now: Instant, after: Duration) {
        self.data[timer.index()] = Some(now + after);
    }

    /// Stops `timer`.
    pub fn stop(&mut self, timer: Timer) {
        self.data[timer.index()] = None;
    }

    /// Stops every timer.
    pub fn stop_all(&mut self) {
        self.data = [None; COUNT];
    }

    /// The deadline of `timer`, if running.
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.data[timer.index()]
    }

    /// The earliest deadline of all running timers.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.data.iter().flatten().min().copied()
    }

    /// Stops and returns a timer that has expired by `now`, earliest first.
    pub fn pop_expired(&mut self, now: Instant) -> Option<Timer> {
        let (timer, _) = Timer::ALL
            .iter()
            .filter_map(|t| self.data[t.index()].map(|d| (*t, d)))
            .filter(|(_, d)| *d <= now)
            .min_by_key(|(_, d)| *d)?;
        self.stop(timer);
        Some(timer)
    }
}

/// RFC 3261 timer values. T1 is the round-trip estimate, T2 the cap on
/// retransmission intervals, T4 how long a message may linger in the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerConfig {
    /// T1, 500 ms by default.
    pub t1: Duration,
    /// T2, 4 s by default.
    pub t2: Duration,
    /// T4, 5 s by default.
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl TimerConfig {
    /// 64*T1: timers B, F, H, J, L, M.
    pub fn t1x64(&self) -> Duration {
        self.t1 * 64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_expired_first() {
        let now = Instant::now();
        let mut t = TimerTable::default();
        t.set(Timer::B, now, Duration::from_secs(32));
        t.set(Timer::A, now, Duration::from_millis(500));
        assert_eq!(t.next_timeout(), Some(now + Duration::from_millis(500)));
        assert_eq!(t.pop_expired(now), None);
        let late = now + Duration::from_secs(40);
        assert_eq!(t.pop_expired(late), Some(Timer::A));
        assert_eq!(t.pop_expired(late), Some(Timer::B));
        assert_eq!(t.pop_expired(late), None);
    }
}
