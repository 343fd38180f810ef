//! The tokio driver: one task owns the UDP socket (and the TCP listener)
//! and pumps a [`UserAgent`] and an [`Application`]. All protocol logic is
//! in the sans-IO core; this file only moves bytes and sleeps.
//!
//! TCP connections each get a small reader task that frames messages by
//! Content-Length and hands them to the one driver loop, and a writer task
//! fed by a channel. Connections to a peer are reused in both directions.

use crate::message::{StreamFramer, MAX_MESSAGE_SIZE};
use crate::transport::{Peer, Transport};
use crate::ua::{UaEvent, UserAgent};
use bytes::Bytes;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

/// What the application does with the UA's events and its own timers.
pub trait Application {
    /// Called for every event of the user agent.
    fn on_event(&mut self, ua: &mut UserAgent, now: Instant, event: UaEvent);

    /// Called after every wake-up, so the application can act on its own
    /// deadlines (hang up after the hold time, place the next call...).
    fn on_tick(&mut self, _ua: &mut UserAgent, _now: Instant) {}

    /// The application's next deadline, if any.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// True when the driver should return.
    fn is_done(&self, _ua: &UserAgent) -> bool {
        false
    }
}

/// Sockets of one user agent.
#[derive(Debug)]
pub struct SipSockets {
    udp: UdpSocket,
    tcp: Option<TcpListener>,
}

impl SipSockets {
    /// Binds UDP (and TCP when `with_tcp`) on `addr`.
    pub async fn bind(addr: SocketAddr, with_tcp: bool) -> io::Result<SipSockets> {
        let udp = bind_udp(addr)?;
        let tcp = if with_tcp {
            Some(TcpListener::bind(udp.local_addr()?).await?)
        } else {
            None
        };
        Ok(SipSockets { udp, tcp })
    }

    /// The bound UDP address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.udp.local_addr()
    }
}

/// Socket buffers large enough for bursts of thousands of call setups per
/// second (the kernel caps them at net.core.rmem_max / wmem_max).
const UDP_BUFFER_BYTES: usize = 4 * 1024 * 1024;

/// Binds a UDP socket with large kernel buffers (the shared RTP socket of a
/// media shard wants them as much as SIP does). Call inside a tokio runtime.
pub fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: a smaller buffer still works, it only drops sooner.
    let _ = socket.set_recv_buffer_size(UDP_BUFFER_BYTES);
    let _ = socket.set_send_buffer_size(UDP_BUFFER_BYTES);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

enum StreamInput {
    Frame(SocketAddr, Bytes),
    Closed(SocketAddr),
    Accepted(SocketAddr, mpsc::UnboundedSender<Bytes>),
}

/// Runs the UA and application until the application is done or
/// `shutdown` completes.
pub async fn run<A: Application>(
    sockets: SipSockets,
    ua: &mut UserAgent,
    app: &mut A,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let SipSockets { udp, tcp } = sockets;
    let (stream_tx, mut stream_rx) = mpsc::unbounded_channel::<StreamInput>();
    let mut connections: HashMap<SocketAddr, mpsc::UnboundedSender<Bytes>> = HashMap::new();
    if let Some(listener) = tcp {
        let tx = stream_tx.clone();
        tokio::spawn(accept_loop(listener, tx));
    }
    let mut buf = vec![0u8; MAX_MESSAGE_SIZE + 1];
    tokio::pin!(shutdown);
    loop {
        let now = Instant::now();
        app.on_tick(ua, now);
        flush(ua, app, &udp, &mut connections, &stream_tx).await;
        if app.is_done(ua) {
            return Ok(());
        }
        let deadline = [ua.poll_timeout(), app.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_else(|| now + Duration::from_secs(3600));
        tokio::select! {
            r = udp.recv_from(&mut buf) => {
                match r {
                    Ok((n, from)) => {
                        let now = Instant::now();
                        ua.handle_datagram(now, Peer::udp(from), Bytes::copy_from_slice(&buf[..n]));
                        // Drain what else is queued without another wake-up.
                        for _ in 0..64 {
                            match udp.try_recv_from(&mut buf) {
                                Ok((n, from)) => ua.handle_datagram(now, Peer::udp(from), Bytes::copy_from_slice(&buf[..n])),
                                Err(_) => break,
                            }
                        }
                    }
                    // ICMP port unreachable surfaces as an error on Linux:
                    // the transaction timers handle the loss.
                    Err(e) => tracing::debug!(error = %e, "UDP receive error"),
                }
            }
            Some(input) = stream_rx.recv() => {
                match input {
                    StreamInput::Frame(from, frame) => {
                        let peer = Peer { addr: from, transport: Transport::Tcp };
                        ua.handle_datagram(Instant::now(), peer, frame);
                    }
                    StreamInput::Closed(addr) => { connections.remove(&addr); }
                    StreamInput::Accepted(addr, writer) => { connections.insert(addr, writer); }
                }
            }
            _ = tokio::time::sleep_until(deadline.into()) => {
                ua.handle_timeout(Instant::now());
            }
            _ = &mut shutdown => return Ok(()),
        }
    }
}

async fn flush<A: Application>(
    ua: &mut UserAgent,
    app: &mut A,
    udp: &UdpSocket,
    connections: &mut HashMap<SocketAddr, mpsc::UnboundedSender<Bytes>>,
    stream_tx: &mpsc::UnboundedSender<StreamInput>,
) {
    loop {
        let mut progressed = false;
        while let Some(t) = ua.poll_transmit() {
            progressed = true;
            match t.destination.transport {
                Transport::Udp => {
                    if let Err(e) = udp.send_to(&t.payload, t.destination.addr).await {
                        tracing::debug!(error = %e, to = %t.destination.addr, "UDP send failed");
                    }
                }
                Transport::Tcp | Transport::Tls => {
                    let addr = t.destination.addr;
                    let writer = match connections.get(&addr) {
                        Some(w) if !w.is_closed() => w.clone(),
                        _ => {
                            let w = connect(addr, stream_tx.clone());
                            connections.insert(addr, w.clone());
                            w
                        }
                    };
                    let _ = writer.send(t.payload);
                }
            }
        }
        while let Some(ev) = ua.poll_event() {
            progressed = true;
            app.on_event(ua, Instant::now(), ev);
        }
        if !progressed {
            break;
        }
    }
}

async fn accept_loop(listener: TcpListener, tx: mpsc::UnboundedSender<StreamInput>) {
    while let Ok((stream, addr)) = listener.accept().await {
        let writer = spawn_connection(stream, addr, tx.clone());
        if tx.send(StreamInput::Accepted(addr, writer)).is_err() {
            return;
        }
    }
}

/// Opens a connection in the background; messages queue until it is up.
fn connect(
    addr: SocketAddr,
    tx: mpsc::UnboundedSender<StreamInput>,
) -> mpsc::UnboundedSender<Bytes> {
    let (wtx, mut wrx) = mpsc::unbounded_channel::<Bytes>();
    tokio::spawn(async move {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                let inner = spawn_connection(stream, addr, tx);
                while let Some(b) = wrx.recv().await {
                    if inner.send(b).is_err() {
                        break;
                    }
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, %addr, "TCP connect failed");
                let _ = tx.send(StreamInput::Closed(addr));
            }
        }
    });
    wtx
}

fn spawn_connection(
    stream: TcpStream,
    addr: SocketAddr,
    tx: mpsc::UnboundedSender<StreamInput>,
) -> mpsc::UnboundedSender<Bytes> {
    let (mut reader, mut writer) = stream.into_split();
    let (wtx, mut wrx) = mpsc::unbounded_channel::<Bytes>();
    tokio::spawn(async move {
        while let Some(b) = wrx.recv().await {
            if writer.write_all(&b).await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        let mut framer = StreamFramer::new();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            framer.push(&buf[..n]);
            loop {
                match framer.next_frame() {
                    Ok(Some(frame)) => {
                        if tx.send(StreamInput::Frame(addr, frame)).is_err() {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        // No way to find the next message boundary: close.
                        tracing::debug!(error = %e, %addr, "closing TCP connection");
                        let _ = tx.send(StreamInput::Closed(addr));
                        return;
                    }
                }
            }
        }
        let _ = tx.send(StreamInput::Closed(addr));
    });
    wtx
}
