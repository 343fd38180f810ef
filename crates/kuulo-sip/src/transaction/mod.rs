//! The four transaction state machines of RFC 3261 section 17 (with the
//! Accepted state of RFC 6026), as plain data driven by the [`Endpoint`].
//!
//! A transaction never reads a clock or touches a socket: the endpoint hands
//! it `now`, and it writes what to send and what to tell the transaction user
//! into a [`Sink`].
//!
//! [`Endpoint`]: crate::Endpoint

mod timer;

pub use timer::{Timer, TimerConfig, TimerTable};

use crate::message::{HeaderAccess, HeaderName, Method, Request, Response};
use crate::transport::{Peer, Transmit};
use bytes::Bytes;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Identifies a transaction to the transaction user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId(pub u64);

/// Which side of which kind of transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// We sent the request.
    Client,
    /// We received the request.
    Server,
}

/// The matching key of RFC 3261 17.1.3 (client: branch and CSeq method) and
/// 17.2.3 (server: branch, sent-by and method, with ACK matching INVITE).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TransactionKey {
    /// Client or server side.
    pub role: Role,
    /// The top Via branch.
    pub branch: String,
    /// The top Via sent-by, `host:port` (server side only; empty for client).
    pub sent_by: String,
    /// The method; ACK is stored as INVITE so it finds its transaction.
    pub method: Method,
}

impl TransactionKey {
    /// The key a request matches as a server transaction, or `None` when its
    /// top Via is missing or unusable.
    pub fn for_server_request(request: &Request) -> Option<TransactionKey> {
        let via = request.top_via().ok()?;
        let method = match request.method {
            Method::Ack => Method::Invite,
            ref m => m.clone(),
        };
        Some(TransactionKey {
            role: Role::Server,
            branch: via.branch()?.to_string(),
            sent_by: sent_by(&via),
            method,
        })
    }

    /// The key a response matches as a client transaction.
    pub fn for_client_response(response: &Response) -> Option<TransactionKey> {
        let via = response.top_via().ok()?;
        let method = response.cseq().ok()?.method;
        Some(TransactionKey {
            role: Role::Client,
            branch: via.branch()?.to_string(),
            sent_by: String::new(),
            method,
        })
    }
}

fn sent_by(via: &crate::message::Via) -> String {
    match via.port {
        Some(p) => format!("{}:{}", via.host, p),
        None => via.host.to_string(),
    }
}

/// What a transaction reports to the transaction user.
#[derive(Debug)]
pub enum TransactionEvent {
    /// A new request arrived and opened a server transaction.
    Request {
        /// The server transaction to respond on.
        id: TransactionId,
        /// The request (its top Via carries received/rport as RFC 3581 says).
        request: Request,
        /// Where it came from.
        source: Peer,
    },
    /// An ACK for a 2xx (it belongs to no transaction), or an ACK the
    /// transaction layer cannot place.
    Ack {
        /// The ACK.
        request: Request,
        /// Where it came from.
        source: Peer,
    },
    /// A response for one of our client transactions (1xx, 2xx, and the
    /// first copy of a non-2xx final).
    Response {
        /// The client transaction.
        id: TransactionId,
        /// The response.
        response: Response,
    },
    /// A 2xx to an INVITE whose client transaction is gone: the UA must
    /// ACK it again (RFC 3261 13.2.2.4).
    StrayResponse {
        /// The response.
        response: Response,
        /// Where it came from.
        source: Peer,
    },
    /// Timer B, F or H fired: no (final) response, or no ACK.
    Timeout {
        /// The transaction that timed out.
        id: TransactionId,
    },
    /// The transaction is gone; its id will not be reported again.
    Terminated {
        /// The transaction.
        id: TransactionId,
    },
}

/// Where transactions write their output.
#[derive(Debug, Default)]
pub struct Sink {
    pub(crate) transmits: VecDeque<Transmit>,
    pub(crate) events: VecDeque<TransactionEvent>,
}

impl Sink {
    fn send(&mut self, peer: Peer, payload: Bytes) {
        self.transmits.push_back(Transmit {
            destination: peer,
            payload,
        });
    }
}

/// The states of RFC 3261 figures 5 to 8 and RFC 6026 figures 5 and 6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// INVITE client: request sent, nothing back yet.
    Calling,
    /// Non-INVITE: request sent (client) or received (server), nothing else yet.
    Trying,
    /// A provisional response was received (client) or sent (server).
    Proceeding,
    /// A final (non-2xx for INVITE) response was received or sent.
    Completed,
    /// INVITE server: the ACK for a non-2xx arrived.
    Confirmed,
    /// INVITE (RFC 6026): a 2xx went through; absorb retransmissions.
    Accepted,
    /// Done.
    Terminated,
}

/// One transaction.
#[derive(Debug)]
pub struct Transaction {
    pub(crate) id: TransactionId,
    pub(crate) key: TransactionKey,
    pub(crate) state: State,
    pub(crate) invite: bool,
    /// The request we sent (client) or received (server).
    pub(crate) request: Request,
    /// Client: the serialized request, for retransmission.
    request_bytes: Bytes,
    /// Server: the last response sent, for retransmission.
    last_response: Option<Bytes>,
    /// Client INVITE: the ACK for a non-2xx final response.
    ack: Option<Bytes>,
    pub(crate) peer: Peer,
    pub(crate) timers: TimerTable,
    /// The deadline the endpoint's heap holds for this transaction.
    pub(crate) scheduled: Option<Instant>,
    interval: Duration,
    config: TimerConfig,
}

impl Transaction {
    /// Starts a client transaction and sends the request.
    pub(crate) fn client(
        id: TransactionId,
        key: TransactionKey,
        request: Request,
        peer: Peer,
        config: TimerConfig,
        now: Instant,
        sink: &mut Sink,
    ) -> Transaction {
        let invite = request.method == Method::Invite;
        let request_bytes = request.to_bytes();
        sink.send(peer, request_bytes.clone());
        let state = if invite {
            State::Calling
        } else {
            State::Trying
        };
        let mut t = Transaction::new(id, key, state, request, request_bytes, peer, config);
        if !peer.transport.is_reliable() {
            t.timers
                .set(if invite { Timer::A } else { Timer::E }, now, config.t1);
        }
        t.timers.set(
            if invite { Timer::B } else { Timer::F },
            now,
            config.t1x64(),
        );
        t
    }

    /// Opens a server transaction for a new request.
    pub(crate) fn server(
        id: TransactionId,
        key: TransactionKey,
        request: Request,
        peer: Peer,
        config: TimerConfig,
    ) -> Transaction {
        let state = if request.method == Method::Invite {
            State::Proceeding
        } else {
            State::Trying
        };
        Transaction::new(id, key, state, request, Bytes::new(), peer, config)
    }

    fn new(
        id: TransactionId,
        key: TransactionKey,
        state: State,
        request: Request,
        request_bytes: Bytes,
        peer: Peer,
        config: TimerConfig,
    ) -> Transaction {
        Transaction {
            id,
            key,
            state,
            invite: request.method == Method::Invite,
            request,
            request_bytes,
            last_response: None,
            ack: None,
            peer,
            timers: TimerTable::default(),
            scheduled: None,
            interval: config.t1,
            config,
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    fn terminate(&mut self, sink: &mut Sink) {
        self.state = State::Terminated;
        self.timers.stop_all();
        sink.events
            .push_back(TransactionEvent::Terminated { id: self.id });
    }

    fn reliable(&self) -> bool {
        self.peer.transport.is_reliable()
    }

    /// The wait of a timer that only absorbs retransmissions: zero on a
    /// reliable transport, where there are none (RFC 3261 17.1.1.2).
    fn unless_reliable(&self, wait: Duration) -> Duration {
        if self.reliable() {
            Duration::ZERO
        } else {
            wait
        }
    }

    /// A response arrived for this client transaction.
    pub(crate) fn on_response(&mut self, response: Response, now: Instant, sink: &mut Sink) {
        let status = response.status;
        let id = self.id;
        match (self.invite, self.state) {
            (true, State::Calling | State::Proceeding) => {
                self.timers.stop(Timer::A);
                if status < 200 {
                    // Timer B guards only the Calling state: once the callee
                    // is ringing, the UA decides how long to wait (and
                    // CANCELs).
                    self.timers.stop(Timer::B);
                    self.state = State::Proceeding;
                } else if status < 300 {
                    self.state = State::Accepted;
                    self.timers.stop(Timer::B);
                    self.timers.set(Timer::M, now, self.config.t1x64());
                } else {
                    self.state = State::Completed;
                    self.timers.stop(Timer::B);
                    let ack = build_non2xx_ack(&self.request, &response).to_bytes();
                    sink.send(self.peer, ack.clone());
                    self.ack = Some(ack);
                    let wait = if self.reliable() {
                        Duration::ZERO
                    } else {
                        Duration::from_secs(32).max(self.config.t1x64() / 2)
                    };
                    self.timers.set(Timer::D, now, wait);
                }
                sink.events
                    .push_back(TransactionEvent::Response { id, response });
            }
            (true, State::Accepted) if (200..300).contains(&status) => {
                sink.events
                    .push_back(TransactionEvent::Response { id, response });
            }
            (true, State::Completed) if status >= 300 => {
                if let Some(ack) = &self.ack {
                    sink.send(self.peer, ack.clone());
                }
            }
            (false, State::Trying | State::Proceeding) => {
                if status < 200 {
                    self.state = State::Proceeding;
                } else {
                    self.state = State::Completed;
                    self.timers.stop(Timer::E);
                    self.timers.stop(Timer::F);
                    let wait = self.unless_reliable(self.config.t4);
                    self.timers.set(Timer::K, now, wait);
                }
                sink.events
                    .push_back(TransactionEvent::Response { id, response });
            }
            _ => {}
        }
    }

    /// The same request arrived again (a retransmission), or the ACK of a
    /// non-2xx final response.
    pub(crate) fn on_request(&mut self, request: &Request, now: Instant, sink: &mut Sink) {
        if request.method == Method::Ack {
            if self.invite && self.state == State::Completed {
                self.state = State::Confirmed;
                self.timers.stop(Timer::G);
                self.timers.stop(Timer::H);
                let wait = self.unless_reliable(self.config.t4);
                self.timers.set(Timer::I, now, wait);
            }
            return;
        }
        if matches!(self.state, State::Proceeding | State::Completed) {
            if let Some(r) = &self.last_response {
                sink.send(self.peer, r.clone());
            }
        }
    }

    /// The transaction user sends a response on this server transaction.
    pub(crate) fn send_response(&mut self, response: &Response, now: Instant, sink: &mut Sink) {
        if !matches!(self.state, State::Trying | State::Proceeding) {
            return;
        }
        let bytes = response.to_bytes();
        sink.send(self.peer, bytes.clone());
        self.last_response = Some(bytes);
        let status = response.status;
        if status < 200 {
            self.state = State::Proceeding;
            return;
        }
        if self.invite {
            if status < 300 {
                self.state = State::Accepted;
                self.timers.set(Timer::L, now, self.config.t1x64());
            } else {
                self.state = State::Completed;
                if !self.reliable() {
                    self.interval = self.config.t1;
                    self.timers.set(Timer::G, now, self.interval);
                }
                self.timers.set(Timer::H, now, self.config.t1x64());
            }
        } else {
            self.state = State::Completed;
            let wait = self.unless_reliable(self.config.t1x64());
            self.timers.set(Timer::J, now, wait);
        }
    }

    /// Fires every timer due by `now`.
    pub(crate) fn on_timeout(&mut self, now: Instant, sink: &mut Sink) {
        while let Some(timer) = self.timers.pop_expired(now) {
            if self.state == State::Terminated {
                return;
            }
            match timer {
                Timer::A | Timer::E => {
                    sink.send(self.peer, self.request_bytes.clone());
                    // Timer A doubles without bound (B ends it); E is capped
                    // at T2, and stays at T2 once a provisional arrived.
                    self.interval = if timer == Timer::A {
                        self.interval * 2
                    } else if self.state == State::Proceeding {
                        self.config.t2
                    } else {
                        (self.interval * 2).min(self.config.t2)
                    };
                    self.timers.set(timer, now, self.interval);
                }
                Timer::G => {
                    if let Some(r) = &self.last_response {
                        sink.send(self.peer, r.clone());
                    }
                    self.interval = (self.interval * 2).min(self.config.t2);
                    self.timers.set(Timer::G, now, self.interval);
                }
                Timer::B | Timer::F | Timer::H => {
                    sink.events
                        .push_back(TransactionEvent::Timeout { id: self.id });
                    self.terminate(sink);
                }
                Timer::D | Timer::I | Timer::J | Timer::K | Timer::L | Timer::M => {
                    self.terminate(sink);
                }
            }
        }
    }
}

/// The ACK of RFC 3261 17.1.1.3 for a non-2xx final response: same
/// Request-URI, Call-ID, From, CSeq number and top Via as the INVITE, the To
/// of the response, and the INVITE's Route set.
fn build_non2xx_ack(invite: &Request, response: &Response) -> Request {
    let mut ack = Request::new(Method::Ack, invite.uri.clone());
    let h = &invite.headers;
    if let Some(via) = h.get(&HeaderName::Via) {
        ack.headers.push(HeaderName::Via, via);
    }
    for route in h.get_all(&HeaderName::Route) {
        ack.headers.push(HeaderName::Route, route);
    }
    ack.headers.push(HeaderName::MaxForwards, "70");
    for name in [HeaderName::From, HeaderName::CallId] {
        if let Some(v) = h.get(&name) {
            ack.headers.push(name, v);
        }
    }
    if let Some(to) = response.headers.get(&HeaderName::To) {
        ack.headers.push(HeaderName::To, to);
    }
    let seq = invite.cseq().map(|c| c.seq).unwrap_or(1);
    ack.headers.push(HeaderName::CSeq, format!("{seq} ACK"));
    ack
}
