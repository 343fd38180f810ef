//! The tokio driver of a [`ResidentPopulation`] on real sockets: one SIP
//! socket, and a pool of RTP/RTCP socket pairs, one pair per resident call
//! (the population tells calls apart by the port media arrives on). A small
//! task per media socket forwards datagrams to the one loop that owns the
//! population; this driver is for demos and benchmarks, where clarity beats
//! the last syscall.

use super::ResidentPopulation;
use bytes::Bytes;
use kuulo_media::session::PacketKind;
use kuulo_sip::driver::bind_udp;
use kuulo_sip::message::MAX_MESSAGE_SIZE;
use kuulo_sip::transport::Peer;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// The sockets of a population.
#[derive(Debug)]
pub struct PopulationSockets {
    sip: UdpSocket,
    /// By local port: RTP sockets on even ports, RTCP on the odd ones.
    media: HashMap<u16, Arc<UdpSocket>>,
}

impl PopulationSockets {
    /// Binds SIP on `sip` and `capacity` RTP/RTCP pairs from `rtp_base`
    /// (which must match the population's config).
    pub fn bind(sip: SocketAddr, ip: IpAddr, rtp_base: u16, capacity: u16) -> io::Result<Self> {
        let sip = bind_udp(sip)?;
        let mut media = HashMap::new();
        for i in 0..capacity {
            let rtp = rtp_base + i * 2;
            for port in [rtp, rtp + 1] {
                media.insert(port, Arc::new(bind_udp(SocketAddr::new(ip, port))?));
            }
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
    let (tx, mut rx) = mpsc::unbounded_channel::<(u16, SocketAddr, Bytes)>();
    let mut readers = Vec::new();
    for (&port, socket) in &sockets.media {
        let socket = Arc::clone(socket);
        let tx = tx.clone();
        readers.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                if tx
                    .send((port, from, Bytes::copy_from_slice(&buf[..n])))
                    .is_err()
                {
                    break;
                }
            }
        }));
    }
    let mut sip_buf = vec![0u8; MAX_MESSAGE_SIZE + 1];
    tokio::pin!(stop);
    let result = loop {
        flush(population, &sockets).await;
        let deadline = population
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            r = sockets.sip.recv_from(&mut sip_buf) => match r {
                Ok((n, from)) => population.handle_sip(
                    Instant::now(),
                    Peer::udp(from),
                    Bytes::copy_from_slice(&sip_buf[..n]),
                ),
                Err(e) => tracing::debug!(error = %e, "SIP receive error"),
            },
            Some((port, from, data)) = rx.recv() => {
                population.handle_media(Instant::now(), port, from, &data);
            }
            _ = tokio::time::sleep_until(deadline.into()) => {
                population.handle_timeout(Instant::now());
            }
            _ = &mut stop => break Ok(()),
        }
    };
    for r in readers {
        r.abort();
    }
    result
}

async fn flush(population: &mut ResidentPopulation, sockets: &PopulationSockets) {
    while let Some(t) = population.poll_sip_transmit() {
        let _ = sockets.sip.send_to(&t.payload, t.destination.addr).await;
    }
    while let Some((port, d)) = population.poll_media_transmit() {
        let local = match d.kind {
            PacketKind::Rtp => port,
            PacketKind::Rtcp => port + 1,
        };
        if let Some(socket) = sockets.media.get(&local) {
            // Late audio is useless: drop rather than wait on a full buffer.
            let _ = socket.try_send_to(d.contents(), d.destination);
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
