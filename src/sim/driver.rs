//! The tokio driver of a [`ResidentPopulation`] on real sockets: one SIP
//! socket, and an RTP/RTCP socket pair per resident call (the population
//! tells calls apart by the port media arrives on).
//!
//! The loop has the survey engine's shape (`engine::driver`), as the
//! residents do as much per call as the engine does: each round runs the
//! timers that are due, sends their packets, then reads what the sockets
//! hold without waiting (the pairs through one readiness source, see
//! `engine::port_sockets`); after a short round it sleeps out the rest of
//! a half-millisecond step so work gathers into batches. A first version
//! with a task and a channel per socket, and its sleep racing the sockets
//! in one `select!`, ran the residents' 20 ms ticks late in bursts from
//! about 1,000 calls, and a load benchmark measured the residents rather
//! than the engine.

use super::ResidentPopulation;
use crate::engine::driver::{pace_after_round, read_sip};
use crate::engine::mmsg;
use crate::engine::port_sockets::PortSockets;
use kuulo_sip::driver::bind_udp;
use kuulo_sip::message::MAX_MESSAGE_SIZE;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

/// The sockets of a population.
#[derive(Debug)]
pub struct PopulationSockets {
    sip: UdpSocket,
    media: PortSockets,
}

impl PopulationSockets {
    /// Binds SIP on `sip` and `capacity` RTP/RTCP pairs from `rtp_base`
    /// (which must match the population's config). Call inside a tokio
    /// runtime. Fails if a port is taken.
    pub fn bind(sip: SocketAddr, ip: IpAddr, rtp_base: u16, capacity: u16) -> io::Result<Self> {
        let sip = bind_udp(sip)?;
        let last = rtp_base
            .checked_add(capacity.saturating_mul(2).saturating_sub(1))
            .filter(|_| capacity > 0 && rtp_base % 2 == 0)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{capacity} RTP pairs from port {rtp_base} do not fit"),
                )
            })?;
        let media = PortSockets::bind(ip, rtp_base, last)?;
        if media.rtp_ports().len() != usize::from(capacity) {
            let missing = (0..capacity)
                .map(|i| rtp_base + 2 * i)
                .find(|p| !media.rtp_ports().contains(p))
                .unwrap_or(rtp_base);
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!(
                    "RTP port {missing} or {} on {ip} is taken; choose another base",
                    missing + 1
                ),
            ));
        }
        Ok(PopulationSockets { sip, media })
    }

    /// The SIP address.
    pub fn sip_addr(&self) -> io::Result<SocketAddr> {
        self.sip.local_addr()
    }
}

/// Runs the population until `stop` completes.
pub async fn run(
    population: &mut ResidentPopulation,
    sockets: PopulationSockets,
    stop: impl Future<Output = ()>,
) -> io::Result<()> {
    let mut sip_buf = vec![0u8; MAX_MESSAGE_SIZE + 1];
    let mut batch = mmsg::RecvBatch::new();
    let mut ready = Vec::new();
    let clock = mmsg::PreciseTimer::new();
    let mut next_clock = Instant::now();
    tokio::pin!(stop);
    loop {
        flush(population, &sockets).await;
        let now = Instant::now();
        if now < next_clock {
            tokio::select! {
                _ = clock.sleep_until(next_clock) => {}
                _ = &mut stop => return Ok(()),
            }
            continue;
        }
        let mut progressed = false;
        if population.poll_timeout().is_some_and(|t| t <= now) {
            population.handle_timeout(now);
            flush(population, &sockets).await;
            progressed = true;
        }
        progressed |= read_sip(&sockets.sip, &mut sip_buf, |from, data| {
            population.handle_sip(Instant::now(), from, data)
        });
        progressed |= receive_media(population, &sockets.media, &mut ready, &mut batch);
        if progressed {
            pace_after_round(now, &mut next_clock).await;
            continue;
        }
        let deadline = population
            .poll_timeout()
            .unwrap_or_else(|| now + Duration::from_secs(3600));
        tokio::select! {
            _ = sockets.sip.readable() => {}
            _ = sockets.media.readable() => {}
            _ = clock.sleep_until(deadline) => {}
            _ = &mut stop => return Ok(()),
        }
    }
}

fn receive_media(
    population: &mut ResidentPopulation,
    media: &PortSockets,
    ready: &mut Vec<u16>,
    batch: &mut mmsg::RecvBatch,
) -> bool {
    if media.ready(ready).is_err() {
        return false;
    }
    for &port in ready.iter() {
        let Some(socket) = media.socket(port) else {
            continue;
        };
        // A resident's socket holds a packet or two; a short batch means
        // it is empty (see `engine::port_sockets`).
        while let Ok(n) = batch.recv(socket) {
            let now = Instant::now();
            for i in 0..n {
                if let Some((from, data)) = batch.get(i) {
                    population.handle_media(now, port, from, data);
                }
            }
            if n < mmsg::BATCH {
                break;
            }
        }
    }
    true
}

async fn flush(population: &mut ResidentPopulation, sockets: &PopulationSockets) {
    while let Some(t) = population.poll_sip_transmit() {
        let _ = sockets.sip.send_to(&t.payload, t.destination.addr).await;
    }
    while let Some(d) = population.poll_media_transmit() {
        if let Some(socket) = sockets.media.socket(d.local_port()) {
            // Late audio is useless: drop rather than wait on a full buffer.
            let _ = socket.send_to(d.contents(), d.destination);
        }
    }
}

/// A population running on a thread of its own with its own runtime, as
/// `kuulo demo` and the loopback tests use it: started by [`spawn`],
/// ended by [`PopulationThread::stop`].
#[derive(Debug)]
pub struct PopulationThread {
    /// The residents' SIP address (where to send INVITEs).
    pub sip: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<io::Result<(super::PopulationStats, Vec<super::GivenAnswer>)>>,
}

/// Binds the population's sockets on `ip` (SIP on a free port, `capacity`
/// RTP/RTCP pairs from `rtp_base`) and runs it on a new thread until
/// [`PopulationThread::stop`]. `configure` adjusts the config (seed,
/// shares, timings) before the population is made. Fails if a port is
/// taken.
pub fn spawn(
    ip: IpAddr,
    rtp_base: u16,
    capacity: u16,
    configure: impl FnOnce(&mut super::PopulationConfig) + Send + 'static,
    script: Arc<kuulo_ivr::SurveyScript>,
    voice: Arc<kuulo_media::prompt::EncodedPrompt>,
) -> io::Result<PopulationThread> {
    let (bound, bound_rx) = std::sync::mpsc::channel();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("residents".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let sockets =
                    PopulationSockets::bind(SocketAddr::new(ip, 0), ip, rtp_base, capacity)
                        .and_then(|s| s.sip_addr().map(|a| (s, a)));
                let (sockets, sip) = match sockets {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = bound.send(Err(e));
                        return Ok(Default::default());
                    }
                };
                let _ = bound.send(Ok(sip));
                let mut config = super::PopulationConfig::new(sip, ip, rtp_base, capacity);
                configure(&mut config);
                let mut population = ResidentPopulation::new(config, script, voice);
                run(&mut population, sockets, async {
                    let _ = stop_rx.await;
                })
                .await?;
                Ok((population.stats().clone(), population.answers().to_vec()))
            })
        })?;
    match bound_rx.recv() {
        Ok(Ok(sip)) => Ok(PopulationThread { sip, stop, thread }),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => Err(joined(thread.join())),
    }
}

impl PopulationThread {
    /// Stops the residents (calls under way are dropped) and returns what
    /// they counted and the answers they gave.
    pub fn stop(self) -> io::Result<(super::PopulationStats, Vec<super::GivenAnswer>)> {
        let _ = self.stop.send(());
        match self.thread.join() {
            Ok(result) => result,
            Err(_) => Err(io::Error::other("the residents' thread panicked")),
        }
    }
}

/// The error of a thread that ended before saying where it listens.
fn joined<T>(result: std::thread::Result<io::Result<T>>) -> io::Error {
    match result {
        Ok(Err(e)) => e,
        Ok(Ok(_)) => io::Error::other("the residents' thread ended before binding"),
        Err(_) => io::Error::other("the residents' thread panicked"),
    }
}
