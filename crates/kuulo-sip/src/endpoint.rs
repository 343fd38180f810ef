//! The transaction layer's endpoint: parses datagrams, matches them to
//! transactions by key, runs the transactions' timers, and answers what
//! cannot be processed (malformed requests get a 400 with the reason).
//!
//! Run loop (the same contract as str0m and quinn-proto): after every input
//! (`handle_datagram`, `handle_timeout`, `send_request`, `send_response`)
//! drain `poll_transmit` and `poll_event`, then sleep until `poll_timeout`.

use crate::message::{HeaderAccess, HeaderName, Method, ParseError, Request, Response, SipMessage};
use crate::transaction::{
    Role, Sink, State, TimerConfig, Transaction, TransactionEvent, TransactionId, TransactionKey,
};
use crate::transport::{Peer, Transmit};
use bytes::Bytes;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::time::Instant;

/// The RFC 3261 magic cookie that starts every branch we generate.
pub const BRANCH_COOKIE: &str = "z9hG4bK";

/// Settings of an [`Endpoint`].
#[derive(Clone, Debug)]
pub struct EndpointConfig {
    /// T1, T2 and T4.
    pub timers: TimerConfig,
    /// The address written into our Via sent-by.
    pub local_addr: SocketAddr,
    /// Sent in a 100 Trying automatically on every new INVITE, so the
    /// caller stops retransmitting while the UA thinks.
    pub auto_trying: bool,
}

impl EndpointConfig {
    /// Defaults for an endpoint reachable at `local_addr`.
    pub fn new(local_addr: SocketAddr) -> EndpointConfig {
        EndpointConfig {
            timers: TimerConfig::default(),
            local_addr,
            auto_trying: true,
        }
    }
}

/// Counters an operator looks at when something is wrong.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Datagrams that failed to parse.
    pub malformed: u64,
    /// 400 responses sent for malformed requests.
    pub bad_requests_answered: u64,
    /// Responses that matched no client transaction and were dropped.
    pub stray_responses: u64,
    /// Request retransmissions absorbed by a server transaction.
    pub retransmissions_absorbed: u64,
}

/// Routes messages to transactions and drives them.
#[derive(Debug)]
pub struct Endpoint {
    config: EndpointConfig,
    transactions: HashMap<TransactionId, Transaction>,
    by_key: HashMap<TransactionKey, TransactionId>,
    timer_heap: BinaryHeap<Reverse<(Instant, TransactionId)>>,
    next_id: u64,
    sink: Sink,
    stats: EndpointStats,
}

impl Endpoint {
    /// A new endpoint.
    pub fn new(config: EndpointConfig) -> Endpoint {
        Endpoint {
            config,
            transactions: HashMap::new(),
            by_key: HashMap::new(),
            timer_heap: BinaryHeap::new(),
            next_id: 1,
            sink: Sink::default(),
            stats: EndpointStats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    /// Number of live transactions.
    pub fn transaction_count(&self) -> usize {
        self.transactions.len()
    }

    /// Client transactions still waiting for a final response (a caller
    /// about to exit waits for these; the ones absorbing retransmissions
    /// after the final response do not count). O(transactions).
    pub fn awaiting_final_responses(&self) -> usize {
        self.transactions
            .values()
            .filter(|t| {
                t.key.role == Role::Client
                    && matches!(
                        t.state(),
                        State::Calling | State::Trying | State::Proceeding
                    )
            })
            .count()
    }

    /// A live transaction.
    pub fn transaction(&self, id: TransactionId) -> Option<&Transaction> {
        self.transactions.get(&id)
    }

    /// A fresh branch: the magic cookie and 64 random bits.
    pub fn new_branch() -> String {
        format!("{BRANCH_COOKIE}{:016x}", rand::random::<u64>())
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.sink.transmits.pop_front()
    }

    /// The next event for the transaction user.
    pub fn poll_event(&mut self) -> Option<TransactionEvent> {
        self.sink.events.pop_front()
    }

    /// When [`Endpoint::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timer_heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Fires every transaction timer due by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, id))) = self.timer_heap.peek().copied() {
            if at > now {
                break;
            }
            self.timer_heap.pop();
            let Some(t) = self.transactions.get_mut(&id) else {
                continue;
            };
            // Entries left behind by a reschedule are skipped: only the one
            // the transaction last asked for counts.
            if t.scheduled != Some(at) {
                continue;
            }
            t.scheduled = None;
            t.on_timeout(now, &mut self.sink);
            self.after_touch(id);
        }
    }

    /// Sends a message outside any transaction (the ACK of a 2xx, or a
    /// stateless response).
    pub fn send_stateless(&mut self, destination: Peer, payload: Bytes) {
        self.sink.transmits.push_back(Transmit {
            destination,
            payload,
        });
    }

    /// Starts a client transaction. A top Via with a fresh branch is added
    /// unless the request already carries one with a branch (a CANCEL must
    /// reuse its INVITE's).
    pub fn send_request(
        &mut self,
        now: Instant,
        mut request: Request,
        destination: Peer,
    ) -> TransactionId {
        let branch = match request
            .top_via()
            .ok()
            .and_then(|v| v.branch().map(str::to_string))
        {
            Some(b) => b,
            None => {
                let b = Self::new_branch();
                let via = format!(
                    "SIP/2.0/{} {};branch={b};rport",
                    destination.transport, self.config.local_addr
                );
                request.headers.push_front(HeaderName::Via, via);
                b
            }
        };
        let method = request.method.clone();
        let id = self.alloc_id();
        let key = TransactionKey {
            role: Role::Client,
            branch,
            sent_by: String::new(),
            method,
        };
        let t = Transaction::client(
            id,
            key.clone(),
            request,
            destination,
            self.config.timers,
            now,
            &mut self.sink,
        );
        self.by_key.insert(key, id);
        self.transactions.insert(id, t);
        self.after_touch(id);
        id
    }

    /// Sends a response on a server transaction. Ignored if the transaction
    /// is gone or already has its final response.
    pub fn send_response(&mut self, now: Instant, id: TransactionId, response: &Response) {
        if let Some(t) = self.transactions.get_mut(&id) {
            t.send_response(response, now, &mut self.sink);
            self.after_touch(id);
        }
    }

    /// The INVITE server transaction a CANCEL refers to (RFC 3261 9.2:
    /// same branch and sent-by, method INVITE).
    pub fn find_invite_for_cancel(&self, cancel: &Request) -> Option<TransactionId> {
        let mut key = TransactionKey::for_server_request(cancel)?;
        key.method = Method::Invite;
        self.by_key.get(&key).copied()
    }

    /// Feeds one datagram (or one frame of a stream).
    pub fn handle_datagram(&mut self, now: Instant, source: Peer, data: Bytes) {
        match SipMessage::parse(data.clone()) {
            Ok(msg) => self.handle_message(now, source, msg),
            Err(e) => {
                self.stats.malformed += 1;
                tracing::debug!(%source.addr, error = %e, "malformed SIP message");
                self.reject_unparsable(source, &data, &e);
            }
        }
    }

    /// Feeds one parsed message.
    pub fn handle_message(&mut self, now: Instant, source: Peer, msg: SipMessage) {
        match msg {
            SipMessage::Request(r) => self.handle_request(now, source, r),
            SipMessage::Response(r) => self.handle_response(now, source, r),
        }
    }

    fn handle_response(&mut self, now: Instant, source: Peer, response: Response) {
        let key = TransactionKey::for_client_response(&response);
        match key.and_then(|k| self.by_key.get(&k).copied()) {
            Some(id) => {
                if let Some(t) = self.transactions.get_mut(&id) {
                    t.on_response(response, now, &mut self.sink);
                    self.after_touch(id);
                }
            }
            None => {
                let is_invite_2xx = (200..300).contains(&response.status)
                    && response.cseq().is_ok_and(|c| c.method == Method::Invite);
                if is_invite_2xx {
                    self.sink
                        .events
                        .push_back(TransactionEvent::StrayResponse { response, source });
                } else {
                    self.stats.stray_responses += 1;
                }
            }
        }
    }

    fn handle_request(&mut self, now: Instant, source: Peer, mut request: Request) {
        if let Err(reason) = check_mandatory(&request) {
            self.reject(source, &request, 400, reason);
            return;
        }
        stamp_received(&mut request, source);
        let Some(key) = TransactionKey::for_server_request(&request) else {
            self.reject(source, &request, 400, "Via without a branch");
            return;
        };
        if let Some(&id) = self.by_key.get(&key) {
            if let Some(t) = self.transactions.get_mut(&id) {
                if request.method != Method::Ack {
                    self.stats.retransmissions_absorbed += 1;
                }
                // An ACK for a 2xx has a branch of its own; one that lands on
                // an Accepted INVITE (a peer reusing the branch) still
                // belongs to the UA.
                if request.method == Method::Ack && t.state() == State::Accepted {
                    self.sink
                        .events
                        .push_back(TransactionEvent::Ack { request, source });
                    return;
                }
                t.on_request(&request, now, &mut self.sink);
                self.after_touch(id);
            }
            return;
        }
        if request.method == Method::Ack {
            self.sink
                .events
                .push_back(TransactionEvent::Ack { request, source });
            return;
        }
        let id = self.alloc_id();
        let mut t =
            Transaction::server(id, key.clone(), request.clone(), source, self.config.timers);
        if request.method == Method::Invite && self.config.auto_trying {
            let trying = response_to(&request, 100, None);
            t.send_response(&trying, now, &mut self.sink);
        }
        self.by_key.insert(key, id);
        self.transactions.insert(id, t);
        self.after_touch(id);
        self.sink.events.push_back(TransactionEvent::Request {
            id,
            request,
            source,
        });
    }

    fn alloc_id(&mut self) -> TransactionId {
        let id = TransactionId(self.next_id);
        self.next_id += 1;
        id
    }

    /// Removes a terminated transaction, or schedules its next timer.
    fn after_touch(&mut self, id: TransactionId) {
        let Some(t) = self.transactions.get(&id) else {
            return;
        };
        if t.state() == State::Terminated {
            let key = t.key.clone();
            self.transactions.remove(&id);
            self.by_key.remove(&key);
            return;
        }
        let next = t.timers.next_timeout();
        if next.is_some() && next != t.scheduled {
            if let (Some(at), Some(t)) = (next, self.transactions.get_mut(&id)) {
                t.scheduled = Some(at);
                self.timer_heap.push(Reverse((at, id)));
            }
        }
    }

    fn reject(&mut self, source: Peer, request: &Request, status: u16, reason: &str) {
        if request.method == Method::Ack {
            return;
        }
        let response = response_to(request, status, Some(reason));
        self.stats.bad_requests_answered += 1;
        self.send_stateless(source, response.to_bytes());
    }

    /// A request that did not parse gets a 400 if enough of it can be read
    /// to address a response (its Via, From, To, Call-ID and CSeq lines);
    /// anything else is dropped, as RFC 3261 18.3 allows.
    fn reject_unparsable(&mut self, source: Peer, data: &[u8], error: &ParseError) {
        let Some(response) = salvage_400(data, error) else {
            return;
        };
        self.stats.bad_requests_answered += 1;
        self.send_stateless(source, response);
    }
}

/// The headers every request needs (RFC 3261 8.1.1), checked before the
/// transaction layer relies on them.
fn check_mandatory(request: &Request) -> Result<(), &'static str> {
    request.top_via().map_err(|_| "missing or invalid Via")?;
    request.call_id().map_err(|_| "missing Call-ID")?;
    let cseq = request.cseq().map_err(|_| "missing or invalid CSeq")?;
    if cseq.method != request.method {
        return Err("CSeq method does not match the request method");
    }
    request
        .from_header()
        .map_err(|_| "missing or invalid From")?;
    request.to_header().map_err(|_| "missing or invalid To")?;
    Ok(())
}

/// RFC 3261 18.2.1 and RFC 3581: record where the request really came from
/// in its top Via, so responses go back through NATs.
fn stamp_received(request: &mut Request, source: Peer) {
    let Ok(mut via) = request.top_via() else {
        return;
    };
    let ip = source.addr.ip().to_string();
    let host = match &via.host {
        crate::message::Host::Ipv6(a) => a.to_string(),
        h => h.to_string(),
    };
    let mut changed = false;
    if host != ip {
        via.params.set("received", Some(&ip));
        changed = true;
    }
    if via.rport() == Some(None) {
        via.params
            .set("rport", Some(&source.addr.port().to_string()));
        changed = true;
    }
    if changed {
        request
            .headers
            .replace_first(&HeaderName::Via, via.to_string());
    }
}

/// A response to `request` per RFC 3261 8.2.6: Via, From, To, Call-ID and
/// CSeq copied. `reason` overrides the standard phrase.
pub fn response_to(request: &Request, status: u16, reason: Option<&str>) -> Response {
    let mut response = Response::new(status);
    if let Some(r) = reason {
        response.reason = sanitize_reason(r);
    }
    for name in [HeaderName::Via] {
        for v in request.headers.get_all(&name) {
            response.headers.push(name.clone(), v);
        }
    }
    for name in [
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ] {
        if let Some(v) = request.headers.get(&name) {
            response.headers.push(name, v);
        }
    }
    response
}

fn sanitize_reason(r: &str) -> String {
    r.chars().filter(|c| !c.is_control()).take(120).collect()
}

fn salvage_400(data: &[u8], error: &ParseError) -> Option<Bytes> {
    let text = String::from_utf8_lossy(&data[..data.len().min(8192)]);
    let mut lines = text.lines().skip_while(|l| l.trim().is_empty());
    let first = lines.next()?;
    // Only requests are answered; a broken response is silently dropped.
    if first.starts_with("SIP/") || !first.contains(' ') {
        return None;
    }
    let mut picked: Vec<(HeaderName, String)> = Vec::new();
    for line in lines {
        if line.trim().is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = HeaderName::from_bytes(name.trim().as_bytes());
        let wanted = matches!(
            name,
            HeaderName::Via
                | HeaderName::From
                | HeaderName::To
                | HeaderName::CallId
                | HeaderName::CSeq
        );
        if wanted && !value.contains(['\r', '\0']) {
            picked.push((name, value.trim().to_string()));
        }
    }
    if !picked.iter().any(|(n, _)| *n == HeaderName::Via) {
        return None;
    }
    let mut response = Response::new(400);
    response.reason = sanitize_reason(&format!("Bad Request ({error})"));
    for (name, value) in picked {
        response.headers.push(name, value);
    }
    Some(response.to_bytes())
}
