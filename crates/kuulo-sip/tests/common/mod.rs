//! A two-UA network in virtual time, after quinn-proto's `Pair`: datagrams
//! between the two user agents pass through a `fate` function that can
//! drop, delay, duplicate or reorder them, and time jumps straight to the
//! next deadline, so 32-second timeouts run in microseconds.

#![allow(dead_code)]

use bytes::Bytes;
use kuulo_sip::transport::Peer;
use kuulo_sip::ua::{UaConfig, UaEvent, UserAgent};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Which UA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

/// What happens to one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Arrives after the delay.
    Deliver(Duration),
    /// Lost.
    Drop,
    /// Arrives twice, after each delay.
    Duplicate(Duration, Duration),
}

/// One datagram as it was sent.
#[derive(Clone, Debug)]
pub struct Sent {
    pub at: Duration,
    pub from: Side,
    pub first_line: String,
    pub payload: Bytes,
    pub fate: Fate,
}

pub type FateFn = Box<dyn FnMut(Side, &str, usize) -> Fate>;
pub type Policy = Box<dyn FnMut(&mut UserAgent, Instant, &UaEvent)>;

pub const LATENCY: Duration = Duration::from_millis(10);

pub struct Pair {
    pub start: Instant,
    pub now: Instant,
    pub a: UserAgent,
    pub b: UserAgent,
    pub addr_a: SocketAddr,
    pub addr_b: SocketAddr,
    in_flight: Vec<(Instant, Side, Bytes)>,
    /// Decides each datagram's fate from its sender, first line, and how
    /// many datagrams with that first line the sender sent before.
    pub fate: FateFn,
    pub policy_a: Option<Policy>,
    pub policy_b: Option<Policy>,
    pub events_a: Vec<(Duration, UaEvent)>,
    pub events_b: Vec<(Duration, UaEvent)>,
    pub sent: Vec<Sent>,
}

impl Pair {
    pub fn new() -> Pair {
        let addr_a: SocketAddr = "127.0.0.1:5070".parse().unwrap();
        let addr_b: SocketAddr = "127.0.0.1:5080".parse().unwrap();
        let now = Instant::now();
        Pair {
            start: now,
            now,
            a: UserAgent::new(UaConfig::new(addr_a)),
            b: UserAgent::new(UaConfig::new(addr_b)),
            addr_a,
            addr_b,
            in_flight: Vec::new(),
            fate: Box::new(|_, _, _| Fate::Deliver(LATENCY)),
            policy_a: None,
            policy_b: None,
            events_a: Vec::new(),
            events_b: Vec::new(),
            sent: Vec::new(),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    pub fn peer_b(&self) -> Peer {
        Peer::udp(self.addr_b)
    }

    /// Count of datagrams `from` sent whose first line starts with `prefix`.
    pub fn count(&self, from: Side, prefix: &str) -> usize {
        self.sent
            .iter()
            .filter(|s| s.from == from && s.first_line.starts_with(prefix))
            .count()
    }

    /// Moves transmits into the network and events to the policies.
    pub fn drain(&mut self) {
        loop {
            let mut progressed = false;
            for side in [Side::A, Side::B] {
                while let Some(t) = self.ua(side).poll_transmit() {
                    progressed = true;
                    let first_line = String::from_utf8_lossy(
                        t.payload.split(|&b| b == b'\r').next().unwrap_or_default(),
                    )
                    .into_owned();
                    let n = self.count(side, &first_line);
                    let fate = (self.fate)(side, &first_line, n);
                    let to = match side {
                        Side::A => Side::B,
                        Side::B => Side::A,
                    };
                    match fate {
                        Fate::Deliver(d) => {
                            self.in_flight.push((self.now + d, to, t.payload.clone()))
                        }
                        Fate::Drop => {}
                        Fate::Duplicate(d1, d2) => {
                            self.in_flight.push((self.now + d1, to, t.payload.clone()));
                            self.in_flight.push((self.now + d2, to, t.payload.clone()));
                        }
                    }
                    self.sent.push(Sent {
                        at: self.elapsed(),
                        from: side,
                        first_line,
                        payload: t.payload,
                        fate,
                    });
                }
                while let Some(ev) = self.ua(side).poll_event() {
                    progressed = true;
                    let at = self.elapsed();
                    let now = self.now;
                    match side {
                        Side::A => {
                            if let Some(p) = self.policy_a.as_mut() {
                                p(&mut self.a, now, &ev);
                            }
                            self.events_a.push((at, ev));
                        }
                        Side::B => {
                            if let Some(p) = self.policy_b.as_mut() {
                                p(&mut self.b, now, &ev);
                            }
                            self.events_b.push((at, ev));
                        }
                    }
                }
            }
            if !progressed {
                break;
            }
        }
    }

    pub fn ua(&mut self, side: Side) -> &mut UserAgent {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// The next delivery or timer of either side.
    fn next_deadline(&self) -> Option<Instant> {
        [
            self.in_flight.iter().map(|(t, _, _)| *t).min(),
            self.a.poll_timeout(),
            self.b.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Advances to the next deadline or delivery. False when nothing is left.
    pub fn step(&mut self) -> bool {
        self.drain();
        let Some(next) = self.next_deadline() else {
            return false;
        };
        self.now = self.now.max(next);
        let now = self.now;
        let mut due: Vec<_> = Vec::new();
        self.in_flight.retain(|(t, side, p)| {
            if *t <= now {
                due.push((*t, *side, p.clone()));
                false
            } else {
                true
            }
        });
        due.sort_by_key(|(t, _, _)| *t);
        for (_, side, payload) in due {
            let from = match side {
                Side::A => Peer::udp(self.addr_b),
                Side::B => Peer::udp(self.addr_a),
            };
            self.ua(side).handle_datagram(now, from, payload);
            self.drain();
        }
        self.a.handle_timeout(now);
        self.b.handle_timeout(now);
        self.drain();
        true
    }

    /// Runs until `d` of virtual time has passed (or nothing is left).
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        loop {
            self.drain();
            match self.next_deadline() {
                Some(n) if n <= until => {
                    self.step();
                }
                _ => break,
            }
        }
        self.now = self.now.max(until);
    }

    /// Runs until both sides hold no state, or `limit` passes.
    pub fn run_until_idle(&mut self, limit: Duration) {
        let until = self.now + limit;
        while self.now < until
            && !(self.a.is_idle() && self.b.is_idle() && self.in_flight.is_empty())
        {
            if !self.step() {
                break;
            }
        }
    }
}

/// A B-side policy: ring, then answer after `answer_after`... in virtual
/// time the policy answers at once; tests needing a delay drive B by hand.
pub fn answer_immediately() -> Policy {
    Box::new(|ua, now, ev| {
        if let UaEvent::Incoming { call, .. } = ev {
            ua.ring(now, *call, None);
            ua.answer(now, *call, Bytes::from_static(b"v=0\r\n"));
        }
    })
}

pub fn ring_only() -> Policy {
    Box::new(|ua, now, ev| {
        if let UaEvent::Incoming { call, .. } = ev {
            ua.ring(now, *call, None);
        }
    })
}
