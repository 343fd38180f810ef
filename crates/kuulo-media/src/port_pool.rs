//! The RTP port pool: which local RTP/RTCP port pair each call gets, the
//! way Asterisk's `rtpstart`/`rtpend` and FreeSWITCH's `rtp-start-port`
//! hand them out.
//!
//! A pool holds pairs (RTP on the even port, RTCP on the odd one above,
//! RFC 3550 section 11). [`allocate`](RtpPortPool::allocate) gives out the
//! pair that has been free the longest, and a released pair rests for a
//! quarantine before anyone gets it again: the old peer's last packets
//! and its RTCP BYE arrive after the call ends, and a new call on the same
//! port would take them for its own (and, with first-packet latching,
//! send its audio to the wrong peer). Cycling through the whole range has
//! the same aim.
//!
//! The pool does no I/O: a driver binds the sockets and tells the pool
//! which pairs it holds ([`RtpPortPool::new`]); the engine asks it for a
//! pair per call. Time is passed in.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use kuulo_media::port_pool::RtpPortPool;
//!
//! let now = Instant::now();
//! let mut pool = RtpPortPool::new([30000, 30002], Duration::from_secs(10));
//! let a = pool.allocate(now).unwrap();
//! let b = pool.allocate(now).unwrap();
//! assert_eq!((a, b), (30000, 30002));
//! assert!(pool.allocate(now).is_err(), "both pairs are taken");
//! pool.release(a, now);
//! assert!(pool.allocate(now).is_err(), "a released pair rests first");
//! assert_eq!(pool.allocate(now + Duration::from_secs(10)), Ok(30000));
//! ```

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use thiserror::Error;

/// What [`RtpPortPool::allocate`] says when no pair is free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PortPoolError {
    /// Every pair is in a call or resting after one.
    #[error(
        "no free RTP port pair: {in_use} in calls, {resting} resting after a call; \
         widen the RTP port range or lower the calls allowed at once"
    )]
    Exhausted {
        /// Pairs given to calls.
        in_use: usize,
        /// Pairs in quarantine.
        resting: usize,
    },
}

/// Local RTP ports for calls; see the [module documentation](self).
#[derive(Debug, Clone)]
pub struct RtpPortPool {
    /// Free pairs, the one free longest first.
    free: VecDeque<u16>,
    /// Released pairs and when they may be given out again, oldest first
    /// (the quarantine is the same for all, so this is also time order).
    resting: VecDeque<(Instant, u16)>,
    in_use: HashSet<u16>,
    quarantine: Duration,
}

impl RtpPortPool {
    /// A pool of the pairs whose RTP ports are `rtp_ports` (even ports;
    /// odd ones and duplicates are left out), in that order, each resting
    /// `quarantine` after its call ends.
    pub fn new(rtp_ports: impl IntoIterator<Item = u16>, quarantine: Duration) -> RtpPortPool {
        let mut seen = HashSet::new();
        let free = rtp_ports
            .into_iter()
            .filter(|p| p % 2 == 0 && *p < u16::MAX && seen.insert(*p))
            .collect();
        RtpPortPool {
            free,
            resting: VecDeque::new(),
            in_use: HashSet::new(),
            quarantine,
        }
    }

    /// The even ports of `first..=last`: what a range such as Asterisk's
    /// `rtpstart=10000`, `rtpend=20000` holds.
    pub fn even_ports(first: u16, last: u16) -> impl Iterator<Item = u16> {
        (first..=last.saturating_sub(1)).filter(|p| p % 2 == 0)
    }

    /// Gives out the RTP port of a free pair (RTCP is the next port).
    pub fn allocate(&mut self, now: Instant) -> Result<u16, PortPoolError> {
        while let Some(&(at, port)) = self.resting.front() {
            if at > now {
                break;
            }
            self.resting.pop_front();
            self.free.push_back(port);
        }
        let port = self.free.pop_front().ok_or(PortPoolError::Exhausted {
            in_use: self.in_use.len(),
            resting: self.resting.len(),
        })?;
        self.in_use.insert(port);
        Ok(port)
    }

    /// Takes back a pair given out by [`allocate`](Self::allocate); it is
    /// given out again once its quarantine has passed. A port the pool
    /// did not give out (or already took back) is ignored.
    pub fn release(&mut self, rtp_port: u16, now: Instant) {
        if self.in_use.remove(&rtp_port) {
            self.resting.push_back((now + self.quarantine, rtp_port));
        }
    }

    /// Whether `rtp_port` is in a call.
    pub fn is_in_use(&self, rtp_port: u16) -> bool {
        self.in_use.contains(&rtp_port)
    }

    /// Pairs in calls.
    pub fn in_use(&self) -> usize {
        self.in_use.len()
    }

    /// Pairs in the pool, whatever their state.
    pub fn capacity(&self) -> usize {
        self.free.len() + self.resting.len() + self.in_use.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_and_repeated_ports_are_left_out() {
        let pool = RtpPortPool::new([4000, 4001, 4000, 4002, u16::MAX], Duration::ZERO);
        assert_eq!(pool.capacity(), 2);
        let ports: Vec<u16> = RtpPortPool::even_ports(10000, 10005).collect();
        assert_eq!(ports, vec![10000, 10002, 10004]);
        // The last even port needs its odd neighbour inside the range.
        let ports: Vec<u16> = RtpPortPool::even_ports(10000, 10004).collect();
        assert_eq!(ports, vec![10000, 10002]);
    }

    #[test]
    fn cycles_through_the_range_before_reusing_a_pair() {
        let t0 = Instant::now();
        let mut pool = RtpPortPool::new(RtpPortPool::even_ports(5000, 5007), Duration::ZERO);
        let mut order = Vec::new();
        for _ in 0..6 {
            let p = pool.allocate(t0).unwrap();
            order.push(p);
            pool.release(p, t0);
        }
        assert_eq!(order, vec![5000, 5002, 5004, 5006, 5000, 5002]);
    }

    #[test]
    fn exhaustion_says_why_and_a_rest_ends_on_time() {
        let t0 = Instant::now();
        let q = Duration::from_secs(10);
        let mut pool = RtpPortPool::new([6000, 6002], q);
        let a = pool.allocate(t0).unwrap();
        let _b = pool.allocate(t0).unwrap();
        pool.release(a, t0);
        pool.release(a, t0); // twice: no effect
        pool.release(7000, t0); // never given out: no effect
        let err = pool
            .allocate(t0 + q - Duration::from_millis(1))
            .unwrap_err();
        assert_eq!(
            err,
            PortPoolError::Exhausted {
                in_use: 1,
                resting: 1
            }
        );
        assert!(err.to_string().contains("widen the RTP port range"));
        assert_eq!(pool.allocate(t0 + q), Ok(a));
        assert!(pool.is_in_use(a));
        assert_eq!((pool.in_use(), pool.capacity()), (2, 2));
    }
}
