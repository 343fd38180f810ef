//! The user agent: calls (dialogs) on top of the transaction endpoint, as
//! one sans-IO state machine.
//!
//! Run loop: after every input (`handle_datagram`, `handle_timeout`, or an
//! API call such as [`UserAgent::invite`]) drain [`UserAgent::poll_transmit`]
//! and [`UserAgent::poll_event`], then sleep until
//! [`UserAgent::poll_timeout`]. Nothing inside reads a clock or a socket, so
//! one task can drive thousands of calls, and tests run in virtual time.
//!
//! ```
//! use kuulo_sip::ua::{UaConfig, UserAgent, UaEvent};
//! use kuulo_sip::message::Uri;
//! use kuulo_sip::transport::Peer;
//! use std::time::Instant;
//!
//! let now = Instant::now();
//! let mut ua = UserAgent::new(UaConfig::new("127.0.0.1:5070".parse().unwrap()));
//! let target = Uri::parse("sip:survey@127.0.0.1:5080").unwrap();
//! let call = ua.invite(now, target, Peer::udp("127.0.0.1:5080".parse().unwrap()), bytes::Bytes::new());
//! let invite = ua.poll_transmit().unwrap();
//! assert!(invite.payload.starts_with(b"INVITE sip:survey@127.0.0.1:5080 SIP/2.0"));
//! assert!(ua.poll_timeout().is_some()); // Timer A
//! # let _ = call;
//! ```

mod dialog;
mod register;
mod uac;
mod uas;

pub use dialog::{new_call_id, new_tag, uri_socket_addr, Dialog, DialogRole};
pub use register::RegistrationId;

use crate::digest::DigestCredentials;
use crate::endpoint::{Endpoint, EndpointConfig};
use crate::message::{HeaderName, Request};
use crate::transaction::{TransactionEvent, TransactionId};
use crate::transport::{Peer, Transmit};
use bytes::Bytes;
use register::Registration;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Identifies a call to the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallHandle(pub u64);

/// Settings of a [`UserAgent`].
#[derive(Clone, Debug)]
pub struct UaConfig {
    /// Transaction layer settings (timers, local address).
    pub endpoint: EndpointConfig,
    /// The user part of our Contact.
    pub contact_user: String,
    /// The From value (caller ID) of calls we place, without tag, e.g.
    /// `"Oulun kaupunki" <sip:+35881234567@trunk.example>`.
    pub from: String,
    /// P-Asserted-Identity to send on INVITEs (a trunk that trusts us shows
    /// this number), or none.
    pub p_asserted_identity: Option<String>,
    /// User-Agent / Server header value.
    pub user_agent: String,
    /// Credentials for 401/407 challenges.
    pub credentials: Option<DigestCredentials>,
    /// Answer re-INVITE and UPDATE offers with the call's current SDP at
    /// once (session refresh, hold). When false, the application answers
    /// with [`UserAgent::answer_reoffer`].
    pub auto_answer_reoffer: bool,
}

impl UaConfig {
    /// Defaults for a UA bound at `local_addr`.
    pub fn new(local_addr: SocketAddr) -> UaConfig {
        UaConfig {
            endpoint: EndpointConfig::new(local_addr),
            contact_user: "kuulo".into(),
            from: format!("<sip:kuulo@{local_addr}>"),
            p_asserted_identity: None,
            user_agent: concat!("Kuulo/", env!("CARGO_PKG_VERSION")).into(),
            credentials: None,
            auto_answer_reoffer: true,
        }
    }
}

/// Why a call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// We hung up an answered call (BYE sent).
    LocalBye,
    /// The peer hung up (BYE received).
    RemoteBye,
    /// We cancelled before the answer (CANCEL / 487).
    Cancelled,
    /// The caller cancelled before we answered.
    CancelledByPeer,
    /// The callee refused (3xx-6xx), or we refused an incoming call.
    Rejected {
        /// The final status.
        status: u16,
        /// Its reason phrase.
        reason: String,
    },
    /// No response (Timer B), or no final response after CANCEL.
    Timeout,
    /// We answered but the ACK never came (RFC 3261 13.3.1.4): BYE sent.
    NoAck,
}

/// What the user agent tells the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UaEvent {
    /// A new call arrived; answer with [`UserAgent::ring`],
    /// [`UserAgent::answer`] or [`UserAgent::reject`].
    Incoming {
        /// The call.
        call: CallHandle,
        /// The SIP Call-ID (for logs).
        call_id: String,
        /// The From header value.
        from: String,
        /// The To header value.
        to: String,
        /// The Request-URI.
        request_uri: String,
        /// The SDP offer, if the INVITE carried one.
        offer: Option<Bytes>,
    },
    /// A provisional response (180, 183...) to our INVITE.
    Progress {
        /// The call.
        call: CallHandle,
        /// The status code.
        status: u16,
        /// Early-media SDP, if the response carried one.
        early_sdp: Option<Bytes>,
    },
    /// Our INVITE was answered (2xx; the ACK is already sent).
    Answered {
        /// The call.
        call: CallHandle,
        /// The SDP answer.
        answer: Option<Bytes>,
    },
    /// The ACK for our 2xx arrived: media can flow both ways.
    Confirmed {
        /// The call.
        call: CallHandle,
        /// SDP in the ACK (answer to an offer in our 2xx), if any.
        sdp: Option<Bytes>,
    },
    /// The peer sent a new offer (re-INVITE or UPDATE: hold, session refresh).
    Reoffer {
        /// The call.
        call: CallHandle,
        /// The server transaction to answer on with
        /// [`UserAgent::answer_reoffer`] (unless `auto_answer_reoffer`).
        tx: TransactionId,
        /// The new SDP offer.
        offer: Option<Bytes>,
    },
    /// The call is over; the handle will not appear again.
    Ended {
        /// The call.
        call: CallHandle,
        /// Why.
        reason: EndReason,
    },
    /// A registration succeeded (and will be refreshed before expiry).
    Registered {
        /// The registration.
        registration: RegistrationId,
        /// Granted expiry in seconds.
        expires: u32,
    },
    /// A registration failed.
    RegistrationFailed {
        /// The registration.
        registration: RegistrationId,
        /// The final status (408 for a timeout).
        status: u16,
    },
}

/// The life of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallState {
    /// UAC: INVITE sent, no provisional yet. UAS: INVITE received.
    Calling,
    /// A provisional response was received or sent.
    Early,
    /// UAS: 2xx sent, waiting for the ACK.
    Answered,
    /// Media flows.
    Confirmed,
    /// CANCEL sent, waiting for the INVITE's final response.
    Cancelling,
}

/// What a transaction of ours is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TxPurpose {
    Invite(CallHandle),
    Cancel,
    Bye,
    InDialogServer(CallHandle),
    Register(RegistrationId),
}

#[derive(Debug)]
pub(crate) struct Call {
    handle: CallHandle,
    dialog: Dialog,
    state: CallState,
    /// UAC: the INVITE we sent last; UAS: the INVITE received.
    invite: Request,
    invite_tx: TransactionId,
    local_sdp: Bytes,
    got_provisional: bool,
    cancel_pending: bool,
    auth_tries: u32,
    ack: Option<Bytes>,
    /// UAS: the 2xx, retransmitted until the ACK (RFC 3261 13.3.1.4).
    ok: Option<Bytes>,
    ok_interval: Duration,
    ok_next: Option<Instant>,
    /// UAS: give up waiting for the ACK; UAC: give up after CANCEL.
    deadline: Option<Instant>,
    scheduled: Option<Instant>,
    /// Our 2xx to a re-INVITE waits for its ACK (retransmitted meanwhile).
    reinvite_awaiting_ack: bool,
}

impl Call {
    /// A call whose INVITE went out (UAC) or came in (UAS) on `invite_tx`.
    fn new(
        handle: CallHandle,
        dialog: Dialog,
        invite: Request,
        invite_tx: TransactionId,
        local_sdp: Bytes,
    ) -> Call {
        Call {
            handle,
            dialog,
            state: CallState::Calling,
            invite,
            invite_tx,
            local_sdp,
            got_provisional: false,
            cancel_pending: false,
            auth_tries: 0,
            ack: None,
            ok: None,
            ok_interval: Duration::ZERO,
            ok_next: None,
            deadline: None,
            scheduled: None,
            reinvite_awaiting_ack: false,
        }
    }

    fn next_timeout(&self) -> Option<Instant> {
        [self.ok_next, self.deadline].into_iter().flatten().min()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TimerOwner {
    Call(CallHandle),
    Registration(RegistrationId),
}

/// A SIP user agent: places and answers calls, registers.
#[derive(Debug)]
pub struct UserAgent {
    config: UaConfig,
    endpoint: Endpoint,
    calls: HashMap<CallHandle, Call>,
    by_dialog: HashMap<(String, String), CallHandle>,
    by_tx: HashMap<TransactionId, TxPurpose>,
    registrations: HashMap<RegistrationId, Registration>,
    timers: BinaryHeap<Reverse<(Instant, TimerOwner)>>,
    events: VecDeque<UaEvent>,
    next_handle: u64,
}

impl UserAgent {
    /// A new user agent.
    pub fn new(config: UaConfig) -> UserAgent {
        UserAgent {
            endpoint: Endpoint::new(config.endpoint.clone()),
            config,
            calls: HashMap::new(),
            by_dialog: HashMap::new(),
            by_tx: HashMap::new(),
            registrations: HashMap::new(),
            timers: BinaryHeap::new(),
            events: VecDeque::new(),
            next_handle: 1,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &UaConfig {
        &self.config
    }

    /// The transaction endpoint (for its stats and counts).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Number of calls in progress.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// The state of a call, if it is still in progress.
    pub fn call_state(&self, call: CallHandle) -> Option<CallState> {
        self.calls.get(&call).map(|c| c.state)
    }

    /// The SIP Call-ID of a call in progress.
    pub fn sip_call_id(&self, call: CallHandle) -> Option<&str> {
        self.calls.get(&call).map(|c| c.dialog.call_id.as_str())
    }

    /// Whether any state is left: calls, registrations or transactions.
    pub fn is_idle(&self) -> bool {
        self.calls.is_empty() && self.endpoint.transaction_count() == 0
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.endpoint.poll_transmit()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<UaEvent> {
        self.events.pop_front()
    }

    /// When to call [`UserAgent::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let own = self.timers.peek().map(|Reverse((at, _))| *at);
        match (own, self.endpoint.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Feeds a datagram (or a stream frame) from `source`.
    pub fn handle_datagram(&mut self, now: Instant, source: Peer, data: Bytes) {
        self.endpoint.handle_datagram(now, source, data);
        self.pump(now);
    }

    /// Runs every timer due by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.endpoint.handle_timeout(now);
        self.pump(now);
        while let Some(Reverse((at, owner))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            match owner {
                TimerOwner::Call(h) => self.on_call_timer(now, h, at),
                TimerOwner::Registration(r) => self.on_registration_timer(now, r, at),
            }
            self.pump(now);
        }
    }

    fn alloc_handle(&mut self) -> CallHandle {
        let h = CallHandle(self.next_handle);
        self.next_handle += 1;
        h
    }

    fn contact(&self, transport: crate::transport::Transport) -> String {
        let addr = self.config.endpoint.local_addr;
        match transport {
            crate::transport::Transport::Udp => {
                format!("<sip:{}@{addr}>", self.config.contact_user)
            }
            t => format!(
                "<sip:{}@{addr};transport={}>",
                self.config.contact_user,
                t.as_str().to_ascii_lowercase()
            ),
        }
    }

    fn our_via(&self, transport: crate::transport::Transport) -> String {
        format!(
            "SIP/2.0/{transport} {};branch={};rport",
            self.config.endpoint.local_addr,
            Endpoint::new_branch()
        )
    }

    /// Drains the endpoint's events into calls and registrations.
    fn pump(&mut self, now: Instant) {
        while let Some(ev) = self.endpoint.poll_event() {
            match ev {
                TransactionEvent::Request {
                    id,
                    request,
                    source,
                } => self.on_request(now, id, request, source),
                TransactionEvent::Ack { request, .. } => self.on_ack(now, request),
                TransactionEvent::Response { id, response } => match self.by_tx.get(&id).copied() {
                    Some(TxPurpose::Invite(h)) => self.on_invite_response(now, h, id, response),
                    Some(TxPurpose::Register(r)) => self.on_register_response(now, r, response),
                    _ => {}
                },
                TransactionEvent::StrayResponse { response, .. } => {
                    self.on_stray_2xx(&response);
                }
                TransactionEvent::Timeout { id } => match self.by_tx.get(&id).copied() {
                    Some(TxPurpose::Invite(h)) if self.calls.contains_key(&h) => {
                        self.end_call(h, EndReason::Timeout);
                    }
                    Some(TxPurpose::Register(r)) => self.on_register_timeout(now, r),
                    _ => {}
                },
                TransactionEvent::Terminated { id } => {
                    self.by_tx.remove(&id);
                }
            }
        }
    }

    fn schedule(&mut self, h: CallHandle) {
        let Some(call) = self.calls.get_mut(&h) else {
            return;
        };
        let next = call.next_timeout();
        if next.is_some() && next != call.scheduled {
            call.scheduled = next;
            if let Some(at) = next {
                self.timers.push(Reverse((at, TimerOwner::Call(h))));
            }
        }
    }

    fn on_call_timer(&mut self, now: Instant, h: CallHandle, at: Instant) {
        let Some(call) = self.calls.get_mut(&h) else {
            return;
        };
        if call.scheduled != Some(at) {
            return;
        }
        call.scheduled = None;
        if call.deadline.is_some_and(|d| d <= now) {
            call.deadline = None;
            match call.state {
                _ if call.reinvite_awaiting_ack => {
                    // No ACK for our 2xx to a re-INVITE: the dialog is
                    // broken; end it as for the initial INVITE.
                    call.reinvite_awaiting_ack = false;
                    call.ok = None;
                    call.ok_next = None;
                    self.send_bye(now, h);
                    self.end_call(h, EndReason::NoAck);
                }
                CallState::Answered => {
                    // RFC 3261 13.3.1.4: no ACK within 64*T1 — confirm and
                    // immediately end the dialog with a BYE.
                    call.ok = None;
                    call.ok_next = None;
                    self.send_bye(now, h);
                    self.end_call(h, EndReason::NoAck);
                }
                CallState::Cancelling => self.end_call(h, EndReason::Timeout),
                _ => {}
            }
            return;
        }
        if let (Some(next), Some(ok)) = (call.ok_next, call.ok.clone()) {
            if next <= now {
                let peer = call.dialog.peer;
                self.endpoint.send_stateless(peer, ok);
                call.ok_interval = (call.ok_interval * 2).min(self.config.endpoint.timers.t2);
                call.ok_next = Some(now + call.ok_interval);
            }
        }
        self.schedule(h);
    }

    fn end_call(&mut self, h: CallHandle, reason: EndReason) {
        if let Some(call) = self.calls.remove(&h) {
            self.by_dialog
                .remove(&(call.dialog.call_id.clone(), call.dialog.local_tag.clone()));
            tracing::debug!(call_id = %call.dialog.call_id, ?reason, "call ended");
            self.events.push_back(UaEvent::Ended { call: h, reason });
        }
    }

    /// Sends BYE on a call's dialog (the call must still be in `calls`).
    fn send_bye(&mut self, now: Instant, h: CallHandle) {
        let contact = self.contact(crate::transport::Transport::Udp);
        let Some(call) = self.calls.get_mut(&h) else {
            return;
        };
        let mut bye = call.dialog.request(crate::message::Method::Bye, &contact);
        bye.headers
            .push(HeaderName::UserAgent, self.config.user_agent.as_str());
        let hop = call.dialog.next_hop();
        let tx = self.endpoint.send_request(now, bye, hop);
        self.by_tx.insert(tx, TxPurpose::Bye);
    }

    /// Hangs up: CANCEL before the answer, BYE after it, and a 480 for an
    /// incoming call not yet answered.
    pub fn hangup(&mut self, now: Instant, call: CallHandle) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        match (c.dialog.role, c.state) {
            (DialogRole::Uac, CallState::Calling | CallState::Early) => self.cancel(now, call),
            (DialogRole::Uac, CallState::Cancelling) => {}
            (DialogRole::Uas, CallState::Calling | CallState::Early) => {
                self.reject(now, call, 480);
            }
            _ => {
                self.send_bye(now, call);
                self.end_call(call, EndReason::LocalBye);
            }
        }
    }
}
