//! The survey call engine: SIP, media and the survey interpreter of many
//! calls wired together as one sans-IO state machine (one shard).
//!
//! # Run loop
//!
//! [`SurveyEngine`] opens no socket, reads no clock and touches no disk. Its
//! driver ([`driver`]) follows the same contract as every Kuulo core:
//!
//! 1. Feed input: SIP datagrams to [`handle_sip`](SurveyEngine::handle_sip),
//!    RTP and RTCP datagrams to [`handle_media`](SurveyEngine::handle_media),
//!    and [`handle_timeout`](SurveyEngine::handle_timeout) once the instant
//!    from [`poll_timeout`](SurveyEngine::poll_timeout) has come. API calls
//!    ([`place_call`](SurveyEngine::place_call),
//!    [`hangup_all`](SurveyEngine::hangup_all)) are input too.
//! 2. After each input drain [`poll_sip_transmit`](SurveyEngine::poll_sip_transmit),
//!    [`poll_media_transmit`](SurveyEngine::poll_media_transmit),
//!    [`poll_store_op`](SurveyEngine::poll_store_op) and
//!    [`poll_event`](SurveyEngine::poll_event).
//! 3. Sleep until [`poll_timeout`](SurveyEngine::poll_timeout).
//!
//! Store writes come out as [`StoreOp`]s, so a slow disk never stalls the
//! 20 ms media clock: the driver hands them to a store thread.
//!
//! # Media routing
//!
//! Two ways, chosen by [`EngineConfig::media_ports`]:
//!
//! - [`MediaPorts::Shared`]: one RTP socket pair per shard. Every SDP
//!   advertises the same port, and datagrams are routed to calls by the
//!   peer's address (its SDP address, then the address symmetric RTP
//!   latched onto), falling back to [`MediaSession::accepts`]. Real peers
//!   (phones, trunks, SBCs) send each call from an address of its own, so
//!   this routes exactly and costs no socket per call. Its limit: two
//!   concurrent calls whose media come from the same address and SSRC
//!   cannot be told apart (sipp replaying one pcap for every call does
//!   this).
//! - [`MediaPorts::Pool`]: a pair per call from an
//!   [`RtpPortPool`](kuulo_media::port_pool::RtpPortPool), as Asterisk
//!   and FreeSWITCH do. The driver feeds each datagram with the local
//!   port it came in on ([`handle_media_on`](SurveyEngine::handle_media_on)),
//!   which names the call; the session's latching policy still decides
//!   whether the sender may speak for it. A released pair rests before
//!   another call gets it, so an old peer's stragglers find no call.

mod call;
pub mod campaign;
pub mod driver;
mod media_queue;
pub(crate) mod mmsg;
pub mod port_sockets;
mod prompts;
pub mod realtime;
pub mod store;
mod types;
mod udp_rate;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kuulo_ivr::SurveyScript;
use kuulo_media::port_pool::RtpPortPool;
use kuulo_media::sdp::{self, AudioCodec, MediaConfig, SessionDescription};
use kuulo_media::session::{MediaSession, SessionConfig};
use kuulo_sip::message::Uri;
use kuulo_sip::transport::{Peer, Transmit};
use kuulo_sip::ua::{CallHandle, EndReason, UaEvent, UserAgent};

use call::{Call, Ctx};
use kuulo_campaign::CallId;
pub use kuulo_campaign::Disposition;
use media_queue::MediaQueue;
pub use media_queue::OutgoingMedia;
pub use mmsg::raise_open_files;
pub use prompts::{LibraryError, PromptLibrary};
pub use types::{
    EngineConfig, EngineError, EngineEvent, MediaDatagram, MediaPorts, ShardMediaStats, StoreOp,
};
pub use udp_rate::raw_udp_rate;

/// How long an ended call's media address stays reserved: its peer's last
/// packets and RTCP BYE arrive within this.
const ENDED_ROUTE_GRACE: Duration = Duration::from_secs(10);

/// How long a pair of an RTP port pool rests after its call before
/// another call gets it: as long as an ended call's address is held in
/// shared mode, for the same stragglers.
pub const PORT_QUARANTINE: Duration = ENDED_ROUTE_GRACE;

/// The engine's maps, looked up several times per packet: aHash is a
/// fraction of the standard SipHash's cost and still keyed at random, as
/// the routes hold addresses peers choose.
pub(crate) type FastMap<K, V> = HashMap<K, V, ahash::RandomState>;

/// One shard of survey calls. See the [module documentation](self).
#[derive(Debug)]
pub struct SurveyEngine {
    config: EngineConfig,
    ua: UserAgent,
    script: Arc<SurveyScript>,
    prompts: Arc<PromptLibrary>,
    calls: FastMap<CallHandle, Call>,
    /// Peer media address to call; see "Media routing" above.
    routes: FastMap<SocketAddr, CallHandle>,
    /// Addresses of ended calls and when they ended: for
    /// [`ENDED_ROUTE_GRACE`] their late packets are dropped instead of
    /// offered to other calls (older entries are forgotten at call ends).
    ended_routes: FastMap<SocketAddr, Instant>,
    /// The same, oldest first, to forget them in order.
    ended_order: VecDeque<(Instant, SocketAddr)>,
    /// Media figures of the calls that have ended, so the shard's figures
    /// cover every call, not only those under way.
    ended_media: ShardMediaStats,
    timers: BinaryHeap<Reverse<(Instant, CallHandle)>>,
    dirty: Vec<CallHandle>,
    media_out: MediaQueue,
    store_ops: VecDeque<StoreOp>,
    events: VecDeque<EngineEvent>,
    rng: u64,
    /// Every media datagram no call took.
    unrouted: u64,
    /// Shutting down: new calls are refused.
    draining: bool,
    /// With [`MediaPorts::Pool`]: the pairs, and which call has each (by
    /// RTP port).
    ports: Option<RtpPortPool>,
    port_routes: FastMap<u16, CallHandle>,
}

impl SurveyEngine {
    /// A shard running `script` with prompts from `prompts`.
    pub fn new(
        config: EngineConfig,
        script: Arc<SurveyScript>,
        prompts: Arc<PromptLibrary>,
    ) -> SurveyEngine {
        let ports = match &config.media_ports {
            MediaPorts::Shared => None,
            MediaPorts::Pool {
                rtp_ports,
                quarantine,
            } => Some(RtpPortPool::new(rtp_ports.iter().copied(), *quarantine)),
        };
        SurveyEngine {
            ports,
            port_routes: FastMap::default(),
            ua: UserAgent::new(config.ua.clone()),
            rng: config.seed,
            config,
            script,
            prompts,
            calls: FastMap::default(),
            routes: FastMap::default(),
            ended_routes: FastMap::default(),
            ended_order: VecDeque::new(),
            ended_media: ShardMediaStats::default(),
            timers: BinaryHeap::new(),
            dirty: Vec::new(),
            media_out: MediaQueue::default(),
            store_ops: VecDeque::new(),
            events: VecDeque::new(),
            unrouted: 0,
            draining: false,
        }
    }

    /// Calls in progress (ringing, answered or ending).
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// True when no call and no SIP transaction is left (a BYE still
    /// waiting for its 200 counts).
    pub fn is_idle(&self) -> bool {
        self.calls.is_empty() && self.ua.is_idle()
    }

    /// Media datagrams no call would take (stray or late packets).
    pub fn unrouted_media(&self) -> u64 {
        self.unrouted
    }

    /// The SIP user agent, for its counters.
    pub fn user_agent(&self) -> &UserAgent {
        &self.ua
    }

    /// The media counters of every call in progress, summed: what a load
    /// benchmark reads to see whether the shard keeps its 20 ms clock.
    pub fn media_stats(&self) -> ShardMediaStats {
        let mut total = self.ended_media;
        for media in self.calls.values().filter_map(|c| c.media.as_ref()) {
            total.add(&media.stats());
        }
        total
    }

    /// Feeds a SIP datagram.
    pub fn handle_sip(&mut self, now: Instant, from: Peer, data: Bytes) {
        self.ua.handle_datagram(now, from, data);
        self.pump(now);
    }

    /// Feeds an RTP or RTCP datagram that arrived on the shard's sockets
    /// ([`MediaPorts::Shared`]): the call is found by the sender's address.
    pub fn handle_media(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let h = self.route(now, from, data);
        self.deliver_media(now, h, from, data);
    }

    /// Feeds an RTP or RTCP datagram that arrived on local port
    /// `local_port` (RTP or RTCP of a pair): with [`MediaPorts::Pool`] the
    /// port names the call, and the call's session decides whether
    /// `from` may send to it. In shared mode this is
    /// [`handle_media`](Self::handle_media).
    pub fn handle_media_on(
        &mut self,
        now: Instant,
        local_port: u16,
        from: SocketAddr,
        data: &[u8],
    ) {
        if self.ports.is_none() {
            return self.handle_media(now, from, data);
        }
        let rtp_port = local_port & !1;
        let h = self
            .port_routes
            .get(&rtp_port)
            .copied()
            .filter(|h| self.call_takes(*h, from, data));
        self.deliver_media(now, h, from, data);
    }

    fn deliver_media(
        &mut self,
        now: Instant,
        h: Option<CallHandle>,
        from: SocketAddr,
        data: &[u8],
    ) {
        let Some(h) = h else {
            self.unrouted += 1;
            return;
        };
        if let Some(media) = self.calls.get_mut(&h).and_then(|c| c.media.as_mut()) {
            media.handle_receive(now, from, data);
            self.dirty.push(h);
        }
        self.pump(now);
    }

    /// Runs every timer due by `now`: SIP retransmissions, the 20 ms media
    /// ticks and the survey's own timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.ua.handle_timeout(now);
        while let Some(Reverse((at, h))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            if let Some(call) = self.calls.get_mut(&h) {
                if call.scheduled == Some(at) {
                    call.scheduled = None;
                    call.handle_timeout(now);
                    self.dirty.push(h);
                }
            }
        }
        self.pump(now);
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let own = self.timers.peek().map(|Reverse((at, _))| *at);
        [own, self.ua.poll_timeout()].into_iter().flatten().min()
    }

    /// The next SIP datagram to send.
    pub fn poll_sip_transmit(&mut self) -> Option<Transmit> {
        self.ua.poll_transmit()
    }

    /// The next RTP or RTCP datagram to send, as an owned copy.
    pub fn poll_media_transmit(&mut self) -> Option<MediaDatagram> {
        self.media_out.pop()
    }

    /// Every media datagram waiting to be sent, oldest first, without
    /// taking them: a driver sending batches (`sendmmsg`) reads them in
    /// place, then drops what it handled with
    /// [`consume_media_transmits`](Self::consume_media_transmits).
    pub fn media_transmits(&self) -> impl ExactSizeIterator<Item = OutgoingMedia<'_>> + Clone {
        self.media_out.pending()
    }

    /// Drops the first `n` datagrams of
    /// [`media_transmits`](Self::media_transmits) (sent, or given up on).
    pub fn consume_media_transmits(&mut self, n: usize) {
        self.media_out.consume(n);
    }

    /// The next store write.
    pub fn poll_store_op(&mut self) -> Option<StoreOp> {
        self.store_ops.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<EngineEvent> {
        self.events.pop_front()
    }

    /// Calls `target` (sending the INVITE to `destination`) with an SDP
    /// offer for this shard's RTP address; the survey starts on the 2xx.
    pub fn place_call(
        &mut self,
        now: Instant,
        target: Uri,
        destination: Peer,
    ) -> Result<CallHandle, EngineError> {
        let number = target
            .as_sip()
            .and_then(|u| u.user_unescaped())
            .filter(|u| kuulo_campaign::check_e164(u).is_ok());
        self.place(now, target, destination, |call| StoreOp::CallStarted {
            call,
            number,
        })
    }

    /// Like [`SurveyEngine::place_call`], for a call a campaign dialler has
    /// already recorded in the store (so the attempt counts before the
    /// INVITE leaves): answers go under `store_call`, and the call's end is
    /// the dialler's to write, with its retry.
    pub fn place_campaign_call(
        &mut self,
        now: Instant,
        target: Uri,
        destination: Peer,
        store_call: CallId,
    ) -> Result<CallHandle, EngineError> {
        self.place(now, target, destination, |call| StoreOp::CallAdopted {
            call,
            id: store_call,
        })
    }

    fn place(
        &mut self,
        now: Instant,
        target: Uri,
        destination: Peer,
        started: impl FnOnce(CallHandle) -> StoreOp,
    ) -> Result<CallHandle, EngineError> {
        if self.draining {
            return Err(EngineError::ShuttingDown);
        }
        if self.calls.len() >= self.config.max_concurrent {
            return Err(EngineError::Full(self.config.max_concurrent));
        }
        let port = self.allocate_port(now)?;
        let offer = sdp::build_offer(&self.media_config(port));
        let h = self
            .ua
            .invite(now, target, destination, Bytes::from(offer.to_string()));
        let sip_call_id = self.ua.sip_call_id(h).unwrap_or_default().to_owned();
        let call = Call::new(h, &sip_call_id, Arc::clone(&self.script), Some(offer), port);
        if self.ports.is_some() {
            self.port_routes.insert(port, h);
        }
        tracing::info!(parent: &call.span, "calling");
        self.calls.insert(h, call);
        self.store_ops.push_back(started(h));
        self.pump(now);
        Ok(h)
    }

    /// Hangs up every call and refuses new ones with 503 (shutdown); each
    /// call still ends through the usual path, so partial answers and
    /// dispositions are stored.
    pub fn hangup_all(&mut self, now: Instant) {
        self.draining = true;
        let handles: Vec<CallHandle> = self.calls.keys().copied().collect();
        for h in handles {
            if let Some(call) = self.calls.get_mut(&h) {
                call.closing = true;
            }
            self.ua.hangup(now, h);
        }
        self.pump(now);
    }

    /// Hangs up one call: CANCEL while it rings (a dialler's ring
    /// timeout), BYE once answered. The call ends through the usual path.
    pub fn hangup(&mut self, now: Instant, h: CallHandle) {
        if let Some(call) = self.calls.get_mut(&h) {
            call.closing = true;
            self.ua.hangup(now, h);
            self.pump(now);
        }
    }

    /// Whether a call has not been answered yet.
    pub fn is_ringing(&self, h: CallHandle) -> bool {
        matches!(
            self.ua.call_state(h),
            Some(kuulo_sip::ua::CallState::Calling | kuulo_sip::ua::CallState::Early)
        )
    }

    /// The RTP port for a new call: the shard's, or a pair of the pool.
    fn allocate_port(&mut self, now: Instant) -> Result<u16, EngineError> {
        match self.ports.as_mut() {
            None => Ok(self.config.rtp.port()),
            Some(pool) => Ok(pool.allocate(now)?),
        }
    }

    /// Gives a call's pair back to the pool (a no-op in shared mode).
    fn release_port(&mut self, now: Instant, port: u16, h: CallHandle) {
        if let Some(pool) = self.ports.as_mut() {
            pool.release(port, now);
            if self.port_routes.get(&port) == Some(&h) {
                self.port_routes.remove(&port);
            }
        }
    }

    fn media_config(&mut self, rtp_port: u16) -> MediaConfig {
        let mut m = MediaConfig::new(self.config.rtp.ip(), rtp_port);
        // The media session encodes G.711 only.
        m.codecs = vec![AudioCodec::Pcmu, AudioCodec::Pcma];
        m.session_id = self.next_random() >> 1;
        m
    }

    fn next_random(&mut self) -> u64 {
        // Spreads the configured seed over every call.
        kuulo_media::session::splitmix(&mut self.rng)
    }

    /// Whether call `h`'s media session would take `data` from `from`
    /// (its latching policy).
    fn call_takes(&self, h: CallHandle, from: SocketAddr, data: &[u8]) -> bool {
        self.calls
            .get(&h)
            .and_then(|c| c.media.as_ref())
            .is_some_and(|m| m.accepts(from, data))
    }

    fn route(&self, now: Instant, from: SocketAddr, data: &[u8]) -> Option<CallHandle> {
        let rtcp = data.len() >= 2 && (192..=223).contains(&data[1]);
        let key = if rtcp {
            SocketAddr::new(from.ip(), from.port().wrapping_sub(1))
        } else {
            from
        };
        let takes = |h: &CallHandle| self.call_takes(*h, from, data);
        if let Some(h) = self.routes.get(&key).or_else(|| self.routes.get(&from)) {
            if takes(h) {
                return Some(*h);
            }
        }
        // Stragglers of a call that has ended (the peer's last RTP, its
        // RTCP BYE) must not reach a new call still waiting for its first
        // packet: that call would latch to the wrong peer.
        let recently_ended = |addr: &SocketAddr| {
            self.ended_routes
                .get(addr)
                .is_some_and(|&at| now < at + ENDED_ROUTE_GRACE)
        };
        if recently_ended(&key) || recently_ended(&from) {
            return None;
        }
        // A peer behind NAT sends from an address its SDP did not name:
        // take it only if exactly one call would, never guess between two.
        let mut found = self.calls.keys().filter(|h| takes(h));
        match (found.next(), found.next()) {
            (Some(h), None) => Some(*h),
            _ => None,
        }
    }

    /// Drops the ended calls' addresses older than [`ENDED_ROUTE_GRACE`].
    fn forget_ended_routes(&mut self, now: Instant) {
        while let Some(&(at, addr)) = self.ended_order.front() {
            if now < at + ENDED_ROUTE_GRACE {
                break;
            }
            self.ended_order.pop_front();
            if self.ended_routes.get(&addr) == Some(&at) {
                self.ended_routes.remove(&addr);
            }
        }
    }

    /// Drains the UA's events and every touched call until nothing moves.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut progressed = false;
            while let Some(ev) = self.ua.poll_event() {
                progressed = true;
                self.on_ua_event(now, ev);
            }
            while let Some(h) = self.dirty.pop() {
                progressed = true;
                self.drive(now, h);
            }
            if !progressed {
                break;
            }
        }
    }

    fn drive(&mut self, now: Instant, h: CallHandle) {
        let Some(call) = self.calls.get_mut(&h) else {
            return;
        };
        let mut ctx = Ctx {
            ua: &mut self.ua,
            prompts: &self.prompts,
            store: &mut self.store_ops,
            media_out: &mut self.media_out,
            routes: &mut self.routes,
        };
        call.drive(now, &mut ctx);
        let next = call.next_timeout();
        if next.is_some() && next != call.scheduled {
            call.scheduled = next;
            if let Some(at) = next {
                self.timers.push(Reverse((at, h)));
            }
        }
    }

    fn on_ua_event(&mut self, now: Instant, ev: UaEvent) {
        match ev {
            UaEvent::Incoming {
                call,
                call_id,
                from,
                offer,
                ..
            } => self.on_incoming(now, call, &call_id, &from, offer),
            UaEvent::Confirmed { call, .. } => self.start(now, call),
            UaEvent::Answered { call, answer } => self.on_answered(now, call, answer),
            UaEvent::Progress { call, status, .. } => {
                if let Some(c) = self.calls.get(&call) {
                    tracing::debug!(parent: &c.span, status, "progress");
                }
            }
            UaEvent::Ended { call, reason } => self.on_ended(now, call, reason),
            // Re-offers are answered by the UA with our SDP (auto answer):
            // the port and codec stay, so the session goes on as is.
            UaEvent::Reoffer { .. }
            | UaEvent::Registered { .. }
            | UaEvent::RegistrationFailed { .. } => {}
        }
    }

    fn on_incoming(
        &mut self,
        now: Instant,
        h: CallHandle,
        call_id: &str,
        from: &str,
        offer: Option<Bytes>,
    ) {
        let span = tracing::info_span!("call", call_id = %call_id);
        let _enter = span.enter();
        if !self.config.accept_incoming {
            tracing::info!("refusing incoming call: this engine only calls out");
            self.ua.reject(now, h, 403);
            return;
        }
        if self.draining {
            tracing::info!("shutting down: refusing call");
            self.ua.reject(now, h, 503);
            return;
        }
        if self.calls.len() >= self.config.max_concurrent {
            tracing::warn!(calls = self.calls.len(), "busy: refusing call");
            self.ua.reject(now, h, 486);
            return;
        }
        // An INVITE without an offer would need our offer in the 2xx and
        // the answer in the ACK; trunks and phones send offers, so refuse.
        let Some(offer) = offer else {
            tracing::info!("refusing INVITE without an SDP offer");
            self.ua.reject(now, h, 488);
            return;
        };
        let port = match self.allocate_port(now) {
            Ok(port) => port,
            Err(e) => {
                tracing::warn!(error = %e, "refusing call");
                self.ua.reject(now, h, 503);
                return;
            }
        };
        // A refusal below releases the pair again (it rests like any
        // other, as the peer may already send to it).
        let cfg = self.media_config(port);
        let negotiated = SessionDescription::parse(&offer)
            .map_err(|e| e.to_string())
            .and_then(|o| sdp::answer_offer(&o, &cfg).map_err(|e| e.to_string()));
        let (answer, negotiated) = match negotiated {
            Ok(ok) => ok,
            Err(e) => {
                tracing::info!(error = %e, "refusing offer");
                self.release_port(now, port, h);
                self.ua.reject(now, h, 488);
                return;
            }
        };
        let seed = self.next_random();
        let media = match new_session(now, &negotiated, seed, &self.config) {
            Ok(m) => m,
            Err(e) => {
                tracing::info!(error = %e, "cannot build media session");
                self.release_port(now, port, h);
                self.ua.reject(now, h, 488);
                return;
            }
        };
        drop(_enter);
        let mut call = Call::new(h, call_id, Arc::clone(&self.script), None, port);
        if self.ports.is_some() {
            self.port_routes.insert(port, h);
        }
        call.attach_media(media, negotiated.codec);
        call.add_route(&mut self.routes, negotiated.remote);
        tracing::info!(parent: &call.span, codec = ?negotiated.codec, remote = %negotiated.remote, "answering");
        self.calls.insert(h, call);
        self.ua.ring(now, h, None);
        self.ua.answer(now, h, Bytes::from(answer.to_string()));
        self.store_ops.push_back(StoreOp::CallStarted {
            call: h,
            number: caller_number(from),
        });
        self.dirty.push(h);
    }

    fn on_answered(&mut self, now: Instant, h: CallHandle, answer: Option<Bytes>) {
        let Some(call) = self.calls.get_mut(&h) else {
            return;
        };
        let result = match (&call.offer, answer) {
            (Some(offer), Some(body)) => SessionDescription::parse(&body)
                .map_err(|e| e.to_string())
                .and_then(|a| sdp::accept_answer(offer, &a).map_err(|e| e.to_string())),
            _ => Err("the 2xx carried no SDP answer".to_owned()),
        };
        let seed = self.next_random();
        let started = result.and_then(|n| {
            new_session(now, &n, seed, &self.config)
                .map(|m| (m, n))
                .map_err(|e| e.to_string())
        });
        let Some(call) = self.calls.get_mut(&h) else {
            return;
        };
        match started {
            Ok((media, negotiated)) => {
                call.attach_media(media, negotiated.codec);
                call.add_route(&mut self.routes, negotiated.remote);
                self.start(now, h);
            }
            Err(e) => {
                tracing::warn!(parent: &call.span, error = %e, "unusable answer: hanging up");
                call.failed = true;
                self.ua.hangup(now, h);
            }
        }
    }

    fn start(&mut self, now: Instant, h: CallHandle) {
        let Some(call) = self.calls.get_mut(&h) else {
            return;
        };
        if call.start(now) {
            self.events.push_back(EngineEvent::CallStarted {
                call: h,
                sip_call_id: call.sip_call_id.clone(),
            });
        }
        self.dirty.push(h);
    }

    fn on_ended(&mut self, now: Instant, h: CallHandle, reason: EndReason) {
        let Some(mut call) = self.calls.remove(&h) else {
            return;
        };
        let mut ctx = Ctx {
            ua: &mut self.ua,
            prompts: &self.prompts,
            store: &mut self.store_ops,
            media_out: &mut self.media_out,
            routes: &mut self.routes,
        };
        call.end(now, &mut ctx);
        // Forgotten here, at each call's end, rather than on the per-packet
        // path; `route` checks the age of what is still held.
        self.forget_ended_routes(now);
        for addr in call.remove_routes(&mut self.routes) {
            self.ended_routes.insert(addr, now);
            self.ended_order.push_back((now, addr));
        }
        if let Some(media) = &call.media {
            self.ended_media.add(&media.stats());
        }
        self.release_port(now, call.local_rtp_port, h);
        let disposition = match call.interp.outcome() {
            // A call the survey never started on has no survey outcome, whatever
            // the interpreter says after its hang-up: busy, no answer, failed.
            Some(o) if call.started && !call.failed => o.disposition.into(),
            _ => unanswered_disposition(&reason, call.started),
        };
        let sip_status = match &reason {
            EndReason::Rejected { status, .. } => Some(*status),
            EndReason::Timeout => Some(408),
            EndReason::Cancelled | EndReason::CancelledByPeer => Some(487),
            _ => None,
        };
        let language = call
            .started
            .then(|| call.interp.language().as_str().to_owned());
        tracing::info!(parent: &call.span, ?reason, %disposition, answers = call.interp.answers().len(), "call ended");
        self.store_ops.push_back(StoreOp::CallFinished {
            call: h,
            disposition,
            sip_status,
            language: language.clone(),
        });
        self.events.push_back(EngineEvent::CallEnded {
            call: h,
            disposition,
            reason,
            answers: call.interp.answers().to_vec(),
            language,
        });
    }
}

/// The disposition of a call the survey never ran on (or that broke).
fn unanswered_disposition(reason: &EndReason, started: bool) -> Disposition {
    match reason {
        _ if started => Disposition::Abandoned,
        EndReason::Rejected {
            status: 486 | 600, ..
        } => Disposition::Busy,
        EndReason::Rejected {
            status: 408 | 480 | 487,
            ..
        }
        | EndReason::Timeout
        | EndReason::Cancelled => Disposition::NoAnswer,
        EndReason::CancelledByPeer | EndReason::RemoteBye => Disposition::Abandoned,
        _ => Disposition::Failed,
    }
}

/// The media session of a call, configured for surveys.
fn new_session(
    now: Instant,
    negotiated: &sdp::Negotiated,
    seed: u64,
    engine: &EngineConfig,
) -> Result<MediaSession, kuulo_media::session::SessionError> {
    let mut cfg = SessionConfig::new(negotiated, seed);
    cfg.idle = engine.media_idle;
    cfg.dtmf_detect = engine.dtmf_detect;
    // The interpreter decides which key ends a recording (each record step
    // names its own); the session only reports keys.
    cfg.recording_stop_keys = String::new();
    // A caller who went silent for this long is gone (a dropped mobile
    // call often sends no BYE).
    cfg.inactivity_timeout = Duration::from_secs(30);
    // Half the default ring: the jitter buffer's slots were most of a
    // call's memory (about 24 of 54 KiB at 2,000 calls), and a survey,
    // which only detects keys and records answers, needs no more than
    // 320 ms of delay to ride out a trunk's jitter.
    if cfg.jitter.capacity > 32 {
        cfg.jitter.capacity = 32;
        cfg.jitter.max_delay_frames = cfg.jitter.max_delay_frames.min(16);
    }
    MediaSession::new(now, cfg)
}

/// The caller's number in E.164 from a From header value, if it has one:
/// `"Name" <sip:+358401234567@trunk>;tag=x` gives `+358401234567`.
fn caller_number(from: &str) -> Option<String> {
    let start = from
        .find("sip:")
        .map(|i| i + 4)
        .or_else(|| from.find("tel:").map(|i| i + 4))?;
    let rest = &from[start..];
    let end = rest.find(['@', ';', '>']).unwrap_or(rest.len());
    let user = &rest[..end];
    kuulo_campaign::check_e164(user).ok().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_number_takes_only_e164_users() {
        assert_eq!(
            caller_number("\"A\" <sip:+358401234567@trunk.example>;tag=1").as_deref(),
            Some("+358401234567")
        );
        assert_eq!(caller_number("<sip:sipp@127.0.0.1:5061>;tag=1"), None);
        assert_eq!(caller_number("garbage"), None);
        assert_eq!(
            caller_number("<tel:+3589425503>").as_deref(),
            Some("+3589425503")
        );
    }

    #[test]
    fn unanswered_calls_get_network_dispositions() {
        let busy = EndReason::Rejected {
            status: 486,
            reason: "Busy Here".into(),
        };
        assert_eq!(unanswered_disposition(&busy, false), Disposition::Busy);
        assert_eq!(
            unanswered_disposition(&EndReason::Timeout, false),
            Disposition::NoAnswer
        );
        assert_eq!(
            unanswered_disposition(&EndReason::NoAck, false),
            Disposition::Failed
        );
    }
}
