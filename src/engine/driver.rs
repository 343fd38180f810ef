//! The tokio driver of a [`SurveyEngine`]: one task owns the SIP socket and
//! the shard's RTP/RTCP socket pair, feeds the engine, sends its output,
//! hands store writes to the [`StoreWorker`] and sleeps until the engine's
//! next timeout. Everything else is in the sans-IO core.
//!
//! SIP is UDP only here; the SIP crate's TCP transport comes with a
//! driver that owns its listener (see `kuulo_sip::driver`).

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kuulo_media::session::PacketKind;
use kuulo_sip::driver::bind_udp;
use kuulo_sip::message::MAX_MESSAGE_SIZE;
use kuulo_sip::transport::{Peer, Transport};
use tokio::net::UdpSocket;

use super::store::StoreWorker;
use super::{EngineEvent, SurveyEngine};

/// How long calls get to hang up cleanly (BYE and its 200) at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Datagrams read per wake-up before the engine's output is flushed, so
/// a burst on one socket cannot starve the media clock.
const READ_BATCH: usize = 64;

/// The sockets of one shard.
#[derive(Debug)]
pub struct EngineSockets {
    sip: UdpSocket,
    rtp: UdpSocket,
    rtcp: UdpSocket,
}

impl EngineSockets {
    /// Binds SIP on `sip` and RTP on `rtp` with RTCP on the next port.
    /// Port 0 for RTP picks a free even port whose neighbour is free too.
    pub async fn bind(sip: SocketAddr, rtp: SocketAddr) -> io::Result<EngineSockets> {
        let sip = bind_udp(sip)?;
        let (rtp, rtcp) = bind_pair(rtp)?;
        Ok(EngineSockets { sip, rtp, rtcp })
    }

    /// The bound SIP address.
    pub fn sip_addr(&self) -> io::Result<SocketAddr> {
        self.sip.local_addr()
    }

    /// The bound RTP address (RTCP is on the next port).
    pub fn rtp_addr(&self) -> io::Result<SocketAddr> {
        self.rtp.local_addr()
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
    let mut rtp_buf = vec![0u8; 2048];
    let mut rtcp_buf = vec![0u8; 2048];
    let mut stopping_since: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        app.on_tick(engine, Instant::now());
        flush(engine, sockets, store, &mut summary, app).await;
        let now = Instant::now();
        let bounds_reached = bounds.max_calls.is_some_and(|m| summary.ended >= m)
            || bounds.until.is_some_and(|t| now >= t);
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
        tokio::select! {
            r = sockets.sip.recv_from(&mut sip_buf) => {
                match r {
                    Ok((n, from)) => {
                        let now = Instant::now();
                        engine.handle_sip(now, Peer::udp(from), Bytes::copy_from_slice(&sip_buf[..n]));
                        for _ in 0..READ_BATCH {
                            match sockets.sip.try_recv_from(&mut sip_buf) {
                                Ok((n, from)) => engine.handle_sip(now, Peer::udp(from), Bytes::copy_from_slice(&sip_buf[..n])),
                                Err(_) => break,
                            }
                        }
                    }
                    // ICMP port unreachable shows up as an error on Linux;
                    // the SIP timers deal with the loss.
                    Err(e) => tracing::debug!(error = %e, "SIP receive error"),
                }
            }
            r = sockets.rtp.recv_from(&mut rtp_buf) => {
                receive_media(engine, &sockets.rtp, r, &mut rtp_buf, &mut summary);
            }
            r = sockets.rtcp.recv_from(&mut rtcp_buf) => {
                receive_media(engine, &sockets.rtcp, r, &mut rtcp_buf, &mut summary);
            }
            _ = tokio::time::sleep_until(deadline.into()) => {
                engine.handle_timeout(Instant::now());
            }
            _ = &mut shutdown, if stopping_since.is_none() => {
                let now = Instant::now();
                stopping_since = Some(now);
                engine.hangup_all(now);
            }
        }
    }
}

fn receive_media(
    engine: &mut SurveyEngine,
    socket: &UdpSocket,
    first: io::Result<(usize, SocketAddr)>,
    buf: &mut [u8],
    summary: &mut RunSummary,
) {
    let now = Instant::now();
    match first {
        Ok((n, from)) => {
            summary.media_received += 1;
            engine.handle_media(now, from, &buf[..n]);
        }
        Err(e) => {
            tracing::debug!(error = %e, "media receive error");
            return;
        }
    }
    for _ in 0..READ_BATCH {
        match socket.try_recv_from(buf) {
            Ok((n, from)) => {
                summary.media_received += 1;
                engine.handle_media(now, from, &buf[..n]);
            }
            Err(_) => break,
        }
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
    while let Some(d) = engine.poll_media_transmit() {
        let socket = match d.kind {
            PacketKind::Rtp => &sockets.rtp,
            PacketKind::Rtcp => &sockets.rtcp,
        };
        // Media is loss tolerant and late audio is useless: a full socket
        // buffer drops the packet rather than stalling every other call.
        match socket.try_send_to(d.contents(), d.destination) {
            Ok(_) => summary.media_sent += 1,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => summary.media_send_dropped += 1,
            Err(e) => tracing::debug!(error = %e, to = %d.destination, "media send failed"),
        }
    }
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
