//! The tokio driver of a [`SurveyEngine`]: one task owns the SIP socket and
//! the shard's RTP/RTCP socket pair, feeds the engine, sends its output,
//! hands store writes to the [`StoreWorker`] and sleeps until the engine's
//! next timeout. Everything else is in the sans-IO core.
//!
//! Each round of the loop runs the timers that are due (every call whose
//! 20 ms tick has come), sends their packets with `sendmmsg`, then reads
//! what the sockets hold (`recvmmsg` for media) without waiting. After a
//! short round the loop sleeps out the rest of a `CLOCK_STEP` (0.5 ms) so
//! work gathers into batches; after a long one it goes on at once; a
//! round that found nothing sleeps until a socket is readable or the next
//! deadline. Media datagrams that find a socket buffer full
//! are dropped, never waited for. `docs/benchmarks.md` ("The media path
//! at scale") has the measurements behind these choices.
//!
//! SIP is UDP only here; the SIP crate's TCP transport comes with a
//! driver that owns its listener (see `kuulo_sip::driver`).

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kuulo_media::session::PacketKind;
use kuulo_sip::driver::bind_udp;
use kuulo_sip::message::MAX_MESSAGE_SIZE;
use kuulo_sip::transport::{Peer, Transport};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::Notify;

use super::mmsg;
use super::port_sockets::PortSockets;
use super::store::StoreWorker;
use super::{EngineEvent, MediaPorts, SurveyEngine};

/// How long calls get to hang up cleanly (BYE and its 200) at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// SIP datagrams read per round before the engine's output is flushed, so
/// a burst cannot starve the media clock.
const READ_BATCH: usize = 64;
/// The shard's clock step: after a short round the next comes a step
/// later, so it serves every call whose 20 ms tick fell within the step,
/// its packets leave in a few `sendmmsg` batches and the input comes in
/// `recvmmsg` batches, instead of a wake-up and system calls per
/// datagram. Calls keep their phases, spread over the 20 ms by when they
/// started, so the packets do not burst; a call's tick is late by up to
/// a step, but by about the same amount every time, so its send interval
/// stays near 20 ms, provided the shard wakes when it asks to: hence the
/// [`mmsg::PreciseTimer`], as tokio's timer rounds sleeps up to whole
/// milliseconds.
pub(crate) const CLOCK_STEP: Duration = Duration::from_micros(500);
/// `recvmmsg` batches read from a media socket per round, at most: a
/// step's worth of 5,000 calls' packets is 250, but a round that comes
/// late finds more, and a reader capped much below what arrives falls
/// further behind every round until the kernel drops input (measured: a
/// cap of 1,024 lost 10% of the input at 1,500 calls).
const MEDIA_READ_ROUNDS: usize = 64;

/// The sockets of one shard.
#[derive(Debug)]
pub struct EngineSockets {
    sip: UdpSocket,
    media: MediaSockets,
}

/// The shard's media sockets, as [`MediaPorts`] says.
#[derive(Debug)]
enum MediaSockets {
    /// One RTP/RTCP pair for every call.
    Shared { rtp: UdpSocket, rtcp: UdpSocket },
    /// A pair per call.
    Pool(PortSockets),
}

impl EngineSockets {
    /// Binds SIP on `sip` and RTP on `rtp` with RTCP on the next port, for
    /// every call ([`MediaPorts::Shared`]). Port 0 for RTP picks a free
    /// even port whose neighbour is free too.
    pub async fn bind(sip: SocketAddr, rtp: SocketAddr) -> io::Result<EngineSockets> {
        let sip = bind_udp(sip)?;
        let (rtp, rtcp) = bind_pair(rtp)?;
        Ok(EngineSockets {
            sip,
            media: MediaSockets::Shared { rtp, rtcp },
        })
    }

    /// Binds SIP on `sip` and an RTP/RTCP pair on `ip` for every even port
    /// of `first..=last` that is free, for a pair per call
    /// ([`MediaPorts::Pool`]), as Asterisk's `rtpstart`/`rtpend` do.
    pub async fn bind_pool(
        sip: SocketAddr,
        ip: std::net::IpAddr,
        first: u16,
        last: u16,
    ) -> io::Result<EngineSockets> {
        let sip = bind_udp(sip)?;
        let pool = PortSockets::bind(ip, first, last)?;
        Ok(EngineSockets {
            sip,
            media: MediaSockets::Pool(pool),
        })
    }

    /// The bound SIP address.
    pub fn sip_addr(&self) -> io::Result<SocketAddr> {
        self.sip.local_addr()
    }

    /// The bound RTP address (RTCP is on the next port); with a pool, the
    /// first pair's.
    pub fn rtp_addr(&self) -> io::Result<SocketAddr> {
        match &self.media {
            MediaSockets::Shared { rtp, .. } => rtp.local_addr(),
            MediaSockets::Pool(pool) => Ok(pool.addr()),
        }
    }

    /// What the engine's [`EngineConfig::media_ports`](super::EngineConfig)
    /// must say for these sockets: the pool's pairs rest `quarantine`
    /// after each call.
    pub fn media_ports(&self, quarantine: Duration) -> MediaPorts {
        match &self.media {
            MediaSockets::Shared { .. } => MediaPorts::Shared,
            MediaSockets::Pool(pool) => MediaPorts::Pool {
                rtp_ports: pool.rtp_ports().to_vec(),
                quarantine,
            },
        }
    }
}

/// RTP and RTCP sockets; one pair carries every call of the shard, so
/// both get the large buffers SIP has.
fn bind_pair(rtp: SocketAddr) -> io::Result<(UdpSocket, UdpSocket)> {
    if rtp.port() != 0 {
        let first = bind_udp(rtp)?;
        let second = bind_udp(SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1)))?;
        return Ok((first, second));
    }
    let mut last = io::Error::new(io::ErrorKind::AddrInUse, "no free RTP port pair");
    for _ in 0..32 {
        let first = bind_udp(rtp)?;
        let port = first.local_addr()?.port();
        // RFC 3550 11: RTP on an even port, RTCP on the odd one above.
        if port % 2 != 0 || port == u16::MAX {
            continue;
        }
        match bind_udp(SocketAddr::new(rtp.ip(), port + 1)) {
            Ok(second) => return Ok((first, second)),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// When a run stops on its own.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bounds {
    /// Stop once this many calls have ended.
    pub max_calls: Option<u64>,
    /// Stop at this instant.
    pub until: Option<Instant>,
}

/// What a run did.
#[derive(Debug, Default, Clone)]
pub struct RunSummary {
    /// Surveys that started (media up).
    pub started: u64,
    /// Calls that ended, by disposition name.
    pub dispositions: BTreeMap<&'static str, u64>,
    /// Calls that ended.
    pub ended: u64,
    /// RTP/RTCP datagrams sent.
    pub media_sent: u64,
    /// RTP/RTCP datagrams received.
    pub media_received: u64,
    /// Media datagrams dropped because the socket buffer was full.
    pub media_send_dropped: u64,
}

/// What a driver-owning application does besides counting events: a
/// dialler placing calls, a benchmark watching them.
pub trait EngineApp {
    /// Called for every [`EngineEvent`].
    fn on_event(&mut self, _engine_event: &EngineEvent) {}
    /// Called after every wake-up (place due calls, hang up those ringing
    /// too long).
    fn on_tick(&mut self, _engine: &mut SurveyEngine, _now: Instant) {}
    /// The application's next deadline.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    /// Woken by another thread when the application has work for the
    /// engine that no socket or deadline announces (a dialler thread's
    /// order); the driver then runs [`on_tick`](Self::on_tick).
    fn waker(&self) -> Option<Arc<Notify>> {
        None
    }
    /// True once the application has nothing left to do (a campaign with
    /// every contact finished): the run then ends as if its bounds were
    /// reached.
    fn is_done(&self) -> bool {
        false
    }
}

/// An [`EngineApp`] that only watches events.
struct Watcher<F>(F);

impl<F: FnMut(&EngineEvent)> EngineApp for Watcher<F> {
    fn on_event(&mut self, event: &EngineEvent) {
        (self.0)(event)
    }
}

/// Runs the engine until `bounds` are reached or `shutdown` completes,
/// then hangs up what is left. Every [`EngineEvent`] is passed to
/// `on_event` as well as counted.
pub async fn run(
    engine: &mut SurveyEngine,
    sockets: &EngineSockets,
    store: &StoreWorker,
    bounds: Bounds,
    shutdown: impl Future<Output = ()>,
    on_event: impl FnMut(&EngineEvent),
) -> io::Result<RunSummary> {
    run_app(
        engine,
        sockets,
        store,
        bounds,
        shutdown,
        &mut Watcher(on_event),
    )
    .await
}

/// [`run`] with an application that also acts on its own deadlines.
pub async fn run_app(
    engine: &mut SurveyEngine,
    sockets: &EngineSockets,
    store: &StoreWorker,
    bounds: Bounds,
    shutdown: impl Future<Output = ()>,
    app: &mut impl EngineApp,
) -> io::Result<RunSummary> {
    let mut summary = RunSummary::default();
    let mut sip_buf = vec![0u8; MAX_MESSAGE_SIZE + 1];
    // One receive batch serves both media sockets: each is handled
    // before the next read.
    let mut media_batch = mmsg::RecvBatch::new();
    let mut ready_ports = Vec::new();
    let mut stopping_since: Option<Instant> = None;
    let mut next_clock = Instant::now();
    let clock = mmsg::PreciseTimer::new();
    let app_waker = app.waker();
    tokio::pin!(shutdown);
    loop {
        app.on_tick(engine, Instant::now());
        flush(engine, sockets, store, &mut summary, app).await;
        let now = Instant::now();
        let bounds_reached = bounds.max_calls.is_some_and(|m| summary.ended >= m)
            || bounds.until.is_some_and(|t| now >= t)
            || app.is_done();
        if bounds_reached && stopping_since.is_none() {
            stopping_since = Some(now);
            engine.hangup_all(now);
            continue;
        }
        if let Some(since) = stopping_since {
            if engine.is_idle() || now >= since + SHUTDOWN_GRACE {
                return Ok(summary);
            }
        }
        if now < next_clock {
            // A round ran less than a step ago: let work gather so the
            // next round handles it in batches, rather than spinning on
            // every datagram as it trickles in.
            let mut wake = next_clock;
            if let Some(since) = stopping_since {
                wake = wake.min(since + SHUTDOWN_GRACE);
            }
            tokio::select! {
                _ = clock.sleep_until(wake) => {}
                _ = &mut shutdown, if stopping_since.is_none() => {
                    let now = Instant::now();
                    stopping_since = Some(now);
                    engine.hangup_all(now);
                }
            }
            continue;
        }
        // One round: due timers, then whatever the sockets hold, without
        // waiting. Timers run here rather than only through the sleep
        // below: while media keeps a socket readable, a freshly armed
        // sleep can lose the race to it wake-up after wake-up, and the
        // calls' 20 ms ticks starve (measured: ticks skipped at 500 calls
        // with the core 70% idle).
        let mut progressed = false;
        if engine.poll_timeout().is_some_and(|t| t <= now) {
            engine.handle_timeout(now);
            // The ticks' packets leave before any receive work, so that
            // work never delays them.
            send_media(engine, sockets, &mut summary);
            progressed = true;
        }
        progressed |= receive_sip(engine, &sockets.sip, &mut sip_buf);
        match &sockets.media {
            MediaSockets::Shared { rtp, rtcp } => {
                progressed |= receive_media(engine, rtp, None, &mut media_batch, &mut summary);
                progressed |= receive_media(engine, rtcp, None, &mut media_batch, &mut summary);
            }
            MediaSockets::Pool(pool) => {
                progressed |= receive_pool(
                    engine,
                    pool,
                    &mut ready_ports,
                    &mut media_batch,
                    &mut summary,
                );
            }
        }
        if progressed {
            // Send what the round produced (top of the loop).
            pace_after_round(now, &mut next_clock).await;
            continue;
        }
        let mut deadline = [engine.poll_timeout(), app.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now + Duration::from_secs(3600));
        if let Some(until) = bounds.until {
            deadline = deadline.min(until);
        }
        if let Some(since) = stopping_since {
            deadline = deadline.min(since + SHUTDOWN_GRACE);
        }
        // Nothing to do: sleep until a socket is readable or a deadline
        // comes; the next round does the work.
        tokio::select! {
            _ = sockets.sip.readable() => {}
            _ = media_readable(&sockets.media) => {}
            _ = clock.sleep_until(deadline) => {}
            _ = woken(app_waker.as_deref()) => {}
            _ = &mut shutdown, if stopping_since.is_none() => {
                let now = Instant::now();
                stopping_since = Some(now);
                engine.hangup_all(now);
            }
        }
    }
}

/// Paces the next round after one that did work, begun at `started`. A
/// short round means a light load: the next one comes a [`CLOCK_STEP`]
/// later (`next_clock`), with the work gathered meanwhile. A long one means
/// work is already waiting: go on at once, as sleeping would only add a
/// wake-up's latency (on a busy machine, milliseconds), letting the
/// runtime poll its other sources first. Shared with the simulated
/// residents' driver.
pub(crate) async fn pace_after_round(started: Instant, next_clock: &mut Instant) {
    if started.elapsed() < CLOCK_STEP / 2 {
        *next_clock = started + CLOCK_STEP;
    } else {
        tokio::task::yield_now().await;
    }
}

/// Completes when a media socket may hold a datagram.
async fn media_readable(media: &MediaSockets) {
    match media {
        MediaSockets::Shared { rtp, rtcp } => {
            tokio::select! {
                _ = rtp.readable() => {}
                _ = rtcp.readable() => {}
            }
        }
        MediaSockets::Pool(pool) => pool.readable().await,
    }
}

/// Completes when `waker` is notified; never without one.
async fn woken(waker: Option<&Notify>) {
    match waker {
        Some(waker) => waker.notified().await,
        None => std::future::pending().await,
    }
}

/// Reads what the SIP socket holds, up to [`READ_BATCH`] datagrams;
/// true if anything came.
fn receive_sip(engine: &mut SurveyEngine, socket: &UdpSocket, buf: &mut [u8]) -> bool {
    read_sip(socket, buf, |from, data| {
        engine.handle_sip(Instant::now(), from, data)
    })
}

/// Hands each datagram the SIP socket holds to `deliver`, up to
/// [`READ_BATCH`] of them (a burst must not starve the media clock);
/// true if anything came. Shared with the simulated residents' driver.
pub(crate) fn read_sip(
    socket: &UdpSocket,
    buf: &mut [u8],
    mut deliver: impl FnMut(Peer, Bytes),
) -> bool {
    let mut any = false;
    for _ in 0..READ_BATCH {
        match with_readiness(socket, Interest::READABLE, || mmsg::recv_from(socket, buf)) {
            Ok((n, from)) => {
                any = true;
                deliver(Peer::udp(from), Bytes::copy_from_slice(&buf[..n]));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            // ICMP port unreachable shows up as an error on Linux; the SIP
            // timers deal with the loss.
            Err(e) => {
                tracing::debug!(error = %e, "SIP receive error");
                any = true;
            }
        }
    }
    any
}

/// Reads what the shared pair's media socket holds, up to
/// [`MEDIA_READ_ROUNDS`] batches of [`mmsg::BATCH`] datagrams (one
/// `recvmmsg` each); true if anything came.
fn receive_media(
    engine: &mut SurveyEngine,
    socket: &UdpSocket,
    port: Option<u16>,
    batch: &mut mmsg::RecvBatch,
    summary: &mut RunSummary,
) -> bool {
    read_socket(engine, port, batch, summary, |b| {
        with_readiness(socket, Interest::READABLE, || b.recv(socket))
    })
}

/// Reads every pool socket that holds datagrams; true if any did.
fn receive_pool(
    engine: &mut SurveyEngine,
    pool: &PortSockets,
    ready: &mut Vec<u16>,
    batch: &mut mmsg::RecvBatch,
    summary: &mut RunSummary,
) -> bool {
    match pool.ready(ready) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
        Err(e) => {
            tracing::debug!(error = %e, "media poll error");
            return false;
        }
    }
    for &port in ready.iter() {
        if let Some(socket) = pool.socket(port) {
            // The pool's sockets are not tokio's: read them directly.
            read_socket(engine, Some(port), batch, summary, |b| b.recv(socket));
        }
    }
    true
}

/// Reads one socket until a short batch, feeding each datagram to the
/// engine with the local port it came in on (`None`: the shared pair).
fn read_socket(
    engine: &mut SurveyEngine,
    port: Option<u16>,
    batch: &mut mmsg::RecvBatch,
    summary: &mut RunSummary,
    mut recv: impl FnMut(&mut mmsg::RecvBatch) -> io::Result<usize>,
) -> bool {
    let mut any = false;
    for _ in 0..MEDIA_READ_ROUNDS {
        match recv(batch) {
            Ok(n) => {
                any = true;
                let now = Instant::now();
                summary.media_received += n as u64;
                for i in 0..batch.len() {
                    if let Some((from, data)) = batch.get(i) {
                        match port {
                            Some(port) => engine.handle_media_on(now, port, from, data),
                            None => engine.handle_media(now, from, data),
                        }
                    }
                }
                if n < mmsg::BATCH {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            // ICMP errors from peers that went away; the next read goes on.
            Err(e) => {
                tracing::debug!(error = %e, "media receive error");
                any = true;
            }
        }
    }
    any
}

/// Runs a non-blocking socket operation through tokio (which clears the
/// socket's readiness when it would block, so a later `readable()` waits
/// for new data) and, when tokio believes the socket is not ready, once
/// more directly. A busy shard seldom lets the runtime poll for readiness
/// (measured: 190 polls a second against 1,100 rounds), so tokio's view
/// goes stale and would leave datagrams queued for milliseconds; the
/// direct attempt reads the kernel's state. It cannot lose a wake-up: data
/// that arrives after it fails raises a new readiness event.
fn with_readiness<T>(
    socket: &UdpSocket,
    interest: Interest,
    mut op: impl FnMut() -> io::Result<T>,
) -> io::Result<T> {
    match socket.try_io(interest, &mut op) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => op(),
        r => r,
    }
}

/// Sends the engine's media datagrams in batches: each run of datagrams
/// for one socket (RTP or RTCP) goes out with one `sendmmsg`.
fn send_media(engine: &mut SurveyEngine, sockets: &EngineSockets, summary: &mut RunSummary) {
    loop {
        let pending = engine.media_transmits();
        let Some(first) = pending.clone().next() else {
            return;
        };
        let (kind, local) = (first.kind, first.local_rtp_port);
        // A run shares one socket: the shared pair's RTP or RTCP socket,
        // or one call's socket of the pool.
        let same_socket = |d: &super::OutgoingMedia<'_>| match sockets.media {
            MediaSockets::Shared { .. } => d.kind == kind,
            MediaSockets::Pool(_) => d.kind == kind && d.local_rtp_port == local,
        };
        let run = pending
            .clone()
            .take(mmsg::BATCH)
            .take_while(same_socket)
            .count();
        let first_destination = first.destination;
        let batch = pending.take(run).map(|d| (d.destination, d.contents));
        let sent = match &sockets.media {
            MediaSockets::Shared { rtp, rtcp } => {
                let socket = match kind {
                    PacketKind::Rtp => rtp,
                    PacketKind::Rtcp => rtcp,
                };
                with_readiness(socket, Interest::WRITABLE, || {
                    mmsg::send_batch(socket, batch.clone())
                })
            }
            MediaSockets::Pool(pool) => {
                let port = first.local_port();
                match pool.socket(port) {
                    Some(socket) => mmsg::send_batch(socket, batch.clone()),
                    None => Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("no socket of the pool on port {port}"),
                    )),
                }
            }
        };
        drop(batch);
        let done = match sent {
            Ok(sent) => {
                summary.media_sent += sent as u64;
                sent.max(1)
            }
            // Media is loss tolerant and late audio is useless: a full
            // socket buffer drops the run rather than stalling every other
            // call.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                summary.media_send_dropped += run as u64;
                run
            }
            // The first datagram could not go (an unreachable peer): drop
            // it and go on with the rest.
            Err(e) => {
                tracing::debug!(error = %e, to = %first_destination, "media send failed");
                1
            }
        };
        engine.consume_media_transmits(done);
    }
}

async fn flush(
    engine: &mut SurveyEngine,
    sockets: &EngineSockets,
    store: &StoreWorker,
    summary: &mut RunSummary,
    app: &mut impl EngineApp,
) {
    while let Some(t) = engine.poll_sip_transmit() {
        if t.destination.transport != Transport::Udp {
            tracing::warn!(to = %t.destination.addr, "dropping SIP message for a stream transport");
            continue;
        }
        if let Err(e) = sockets.sip.send_to(&t.payload, t.destination.addr).await {
            tracing::debug!(error = %e, to = %t.destination.addr, "SIP send failed");
        }
    }
    send_media(engine, sockets, summary);
    while let Some(op) = engine.poll_store_op() {
        store.send(op);
    }
    while let Some(ev) = engine.poll_event() {
        match &ev {
            EngineEvent::CallStarted { .. } => summary.started += 1,
            EngineEvent::CallEnded { disposition, .. } => {
                summary.ended += 1;
                *summary
                    .dispositions
                    .entry(disposition.as_str())
                    .or_default() += 1;
            }
        }
        app.on_event(&ev);
    }
}
