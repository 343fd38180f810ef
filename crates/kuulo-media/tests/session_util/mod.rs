//! Two media sessions wired back to back in virtual time, with latency,
//! loss and an optional NAT in front of A.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kuulo_media::sdp::{AudioCodec, Direction, Negotiated};
use kuulo_media::session::{MediaSession, PacketKind, SessionConfig, SessionEvent, SessionStats};

pub const A_ADDR: &str = "10.0.0.1:4000";
pub const B_ADDR: &str = "10.0.0.2:5000";

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A config as offer/answer would give it, sending to `remote`.
pub fn config(remote: SocketAddr, telephone_event: Option<u8>, seed: u64) -> SessionConfig {
    let n = Negotiated {
        codec: AudioCodec::Pcmu,
        payload_type: 0,
        telephone_event,
        remote,
        direction: Direction::SendRecv,
        remote_ptime: None,
        remote_maxptime: None,
    };
    SessionConfig::new(&n, seed)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

pub struct Sent {
    pub at: Instant,
    pub from: Side,
    pub to: SocketAddr,
    pub kind: PacketKind,
    pub bytes: Vec<u8>,
}

pub struct Pair {
    pub a: MediaSession,
    pub b: MediaSession,
    pub now: Instant,
    pub start: Instant,
    pub latency: Duration,
    /// The address B sees A's packets come from (a NAT), and where B must
    /// send for A to get them.
    pub a_seen_as: SocketAddr,
    pub b_addr: SocketAddr,
    in_flight: Vec<(Instant, Side, SocketAddr, Vec<u8>)>,
    /// Returns true to drop a datagram.
    pub drop: Box<dyn FnMut(&Sent) -> bool>,
    /// Delay on top of `latency` for each datagram (jitter, reordering).
    pub extra_delay: Box<dyn FnMut(&Sent) -> Duration>,
    pub sent: Vec<Sent>,
    pub a_events: Vec<(Instant, SessionEvent)>,
    pub b_events: Vec<(Instant, SessionEvent)>,
    /// Keep copies of every datagram in `sent` (off for allocation tests).
    pub log: bool,
}

impl Pair {
    /// A's prompt was played to its end.
    pub fn a_finished_playing(&self) -> bool {
        self.a_events
            .iter()
            .any(|(_, e)| *e == SessionEvent::PlaybackFinished)
    }

    pub fn new(now: Instant, a: MediaSession, b: MediaSession) -> Self {
        Pair {
            a,
            b,
            now,
            start: now,
            latency: Duration::from_millis(10),
            a_seen_as: addr(A_ADDR),
            b_addr: addr(B_ADDR),
            in_flight: Vec::with_capacity(1024),
            drop: Box::new(|_| false),
            extra_delay: Box::new(|_| Duration::ZERO),
            sent: Vec::new(),
            a_events: Vec::new(),
            b_events: Vec::new(),
            log: true,
        }
    }

    fn next_time(&self) -> Option<Instant> {
        let flight = self.in_flight.iter().map(|f| f.0).min();
        [self.a.poll_timeout(), self.b.poll_timeout(), flight]
            .into_iter()
            .flatten()
            .min()
    }

    /// Runs until `end` (virtual time).
    pub fn run_until(&mut self, end: Instant) {
        while let Some(t) = self.next_time() {
            if t > end {
                break;
            }
            self.now = self.now.max(t);
            self.step();
        }
        self.now = self.now.max(end);
    }

    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.run_until(end);
    }

    fn step(&mut self) {
        let now = self.now;
        let mut i = 0;
        while i < self.in_flight.len() {
            if self.in_flight[i].0 <= now {
                let (_, to, from, bytes) = self.in_flight.swap_remove(i);
                match to {
                    Side::A => self.a.handle_receive(now, from, &bytes),
                    Side::B => self.b.handle_receive(now, from, &bytes),
                }
            } else {
                i += 1;
            }
        }
        if self.a.poll_timeout().is_some_and(|t| t <= now) {
            self.a.handle_timeout(now);
        }
        if self.b.poll_timeout().is_some_and(|t| t <= now) {
            self.b.handle_timeout(now);
        }
        self.drain();
    }

    /// Collects transmits and events of both sides.
    pub fn drain(&mut self) {
        let now = self.now;
        let b_port = self.b_addr.port();
        while let Some(t) = self.a.poll_transmit() {
            let sent = Sent {
                at: now,
                from: Side::A,
                to: t.destination,
                kind: t.kind,
                bytes: t.contents.to_vec(),
            };
            let to_b = t.destination.ip() == self.b_addr.ip()
                && (t.destination.port() == b_port || t.destination.port() == b_port + 1);
            if to_b && !(self.drop)(&sent) {
                let from = match t.kind {
                    PacketKind::Rtp => self.a_seen_as,
                    PacketKind::Rtcp => {
                        SocketAddr::new(self.a_seen_as.ip(), self.a_seen_as.port() + 1)
                    }
                };
                let at = now + self.latency + (self.extra_delay)(&sent);
                self.in_flight.push((at, Side::B, from, sent.bytes.clone()));
            }
            if self.log {
                self.sent.push(sent);
            }
        }
        let a_port = self.a_seen_as.port();
        while let Some(t) = self.b.poll_transmit() {
            let sent = Sent {
                at: now,
                from: Side::B,
                to: t.destination,
                kind: t.kind,
                bytes: t.contents.to_vec(),
            };
            let to_a = t.destination.ip() == self.a_seen_as.ip()
                && (t.destination.port() == a_port || t.destination.port() == a_port + 1);
            if to_a && !(self.drop)(&sent) {
                let from = match t.kind {
                    PacketKind::Rtp => self.b_addr,
                    PacketKind::Rtcp => SocketAddr::new(self.b_addr.ip(), b_port + 1),
                };
                let at = now + self.latency + (self.extra_delay)(&sent);
                self.in_flight.push((at, Side::A, from, sent.bytes.clone()));
            }
            if self.log {
                self.sent.push(sent);
            }
        }
        while let Some(e) = self.a.poll_event() {
            self.a_events.push((now, e));
        }
        while let Some(e) = self.b.poll_event() {
            self.b_events.push((now, e));
        }
    }

    pub fn b_digits(&self) -> Vec<(char, kuulo_media::session::DtmfSource)> {
        self.b_events
            .iter()
            .filter_map(|(_, e)| match e {
                SessionEvent::Dtmf { digit, source, .. } => Some((*digit, *source)),
                _ => None,
            })
            .collect()
    }

    pub fn stats(&self) -> (SessionStats, SessionStats) {
        (self.a.stats(), self.b.stats())
    }
}
