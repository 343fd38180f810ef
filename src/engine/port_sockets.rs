//! The sockets of an RTP port pool ([`MediaPorts::Pool`](super::MediaPorts)):
//! a bound RTP/RTCP pair per port of a range, and one readiness source for
//! all of them.
//!
//! A shard with thousands of calls cannot afford a task, or a tokio
//! registration polled in a `select!`, per socket. The sockets are
//! registered with a `mio::Poll` of their own (epoll on Linux), whose one
//! descriptor tokio watches: the driver sleeps on that, and each round asks
//! it, without waiting, which sockets hold datagrams, then reads each with
//! `recvmmsg`. A short read means the socket was empty when read, and
//! epoll reports the next datagram that arrives as a new event, so no
//! socket is read twice to find it empty.
//!
//! Sending has no such trick: a datagram leaves from its own call's socket,
//! so each costs a system call (consecutive datagrams of one socket still
//! share one `sendmmsg`). `docs/benchmarks.md` has what that costs against
//! the shared pair.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Mutex;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use tokio::io::unix::AsyncFd;

/// Ready sockets taken from the poll per round, at most; the rest are
/// reported again next round (epoll keeps them on its ready list).
const EVENTS: usize = 4096;

/// The poll's descriptor, as tokio watches it; the [`Poll`] owns it.
struct PollFd(RawFd);

impl AsRawFd for PollFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// Bound pairs of a port range; see the [module documentation](self).
pub struct PortSockets {
    /// Declared before `poll`: tokio lets go of the descriptor before the
    /// poll closes it.
    watch: AsyncFd<PollFd>,
    /// Locked once a round by the shard's one task: the lock only makes
    /// the sockets shareable by reference, as the shared pair is.
    poll: Mutex<(Poll, Events)>,
    /// Sockets by local port, from `first` (RTP on even, RTCP on odd).
    sockets: Vec<Option<UdpSocket>>,
    first: u16,
    rtp_ports: Vec<u16>,
    ip: IpAddr,
}

impl std::fmt::Debug for PortSockets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortSockets")
            .field("ip", &self.ip)
            .field("pairs", &self.rtp_ports.len())
            .finish()
    }
}

impl PortSockets {
    /// Binds an RTP/RTCP pair on `ip` for every even port of
    /// `first..=last` whose two ports are free (pairs in use by others are
    /// skipped), raising the open-files limit to fit. Call inside a tokio
    /// runtime. Fails if no pair could be bound.
    pub fn bind(ip: IpAddr, first: u16, last: u16) -> io::Result<PortSockets> {
        let first = first + first % 2;
        if last <= first {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the RTP port range {first}-{last} holds no even/odd pair"),
            ));
        }
        let pairs = u64::from(last - first).div_ceil(2);
        let allowed = super::mmsg::raise_open_files(pairs * 2 + 256);
        let poll = Poll::new()?;
        // SAFETY: the poll's descriptor stays open as long as the poll,
        // which outlives the `AsyncFd`: both live in the returned value,
        // `watch` declared (and so dropped) first.
        let watch = unsafe {
            AsyncFd::register_with_interest(PollFd(poll.as_raw_fd()), tokio::io::Interest::READABLE)
        }
        .map_err(io::Error::from)?;
        let mut sockets: Vec<Option<UdpSocket>> = Vec::new();
        let mut rtp_ports = Vec::new();
        let mut last_error = None;
        for rtp in kuulo_media::port_pool::RtpPortPool::even_ports(first, last) {
            if (rtp_ports.len() as u64 + 1) * 2 + 64 > allowed {
                tracing::warn!(
                    bound = rtp_ports.len(),
                    open_files = allowed,
                    "the open-files limit stops the RTP port range here; raise `ulimit -n`"
                );
                break;
            }
            match (bind_one(ip, rtp), bind_one(ip, rtp + 1)) {
                (Ok(a), Ok(b)) => {
                    for (port, socket) in [(rtp, a), (rtp + 1, b)] {
                        poll.registry().register(
                            &mut SourceFd(&socket.as_raw_fd()),
                            Token(usize::from(port)),
                            Interest::READABLE,
                        )?;
                        let i = usize::from(port - first);
                        if sockets.len() <= i {
                            sockets.resize_with(i + 1, || None);
                        }
                        sockets[i] = Some(socket);
                    }
                    rtp_ports.push(rtp);
                }
                (Err(e), _) | (_, Err(e)) => last_error = Some(e),
            }
        }
        if rtp_ports.is_empty() {
            let why = last_error.map_or_else(|| "no pair fits".to_owned(), |e| e.to_string());
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("no RTP port pair in {first}-{last} could be bound on {ip}: {why}"),
            ));
        }
        if rtp_ports.len() as u64 * 2 < u64::from(last - first) {
            tracing::info!(
                pairs = rtp_ports.len(),
                first,
                last,
                "some RTP port pairs were taken and are left out"
            );
        }
        Ok(PortSockets {
            watch,
            poll: Mutex::new((poll, Events::with_capacity(EVENTS))),
            sockets,
            first,
            rtp_ports,
            ip,
        })
    }

    /// The RTP ports of the pairs bound, for [`MediaPorts::Pool`](super::MediaPorts).
    pub fn rtp_ports(&self) -> &[u16] {
        &self.rtp_ports
    }

    /// The address calls' SDP names (the port of the first pair).
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.rtp_ports[0])
    }

    /// The socket bound to `port`, if it is one of the pool's.
    pub fn socket(&self, port: u16) -> Option<&UdpSocket> {
        let i = usize::from(port.checked_sub(self.first)?);
        self.sockets.get(i)?.as_ref()
    }

    /// The local ports whose sockets hold datagrams, without waiting;
    /// `WouldBlock` when none does (which re-arms [`readable`](Self::readable)).
    pub fn ready(&self, out: &mut Vec<u16>) -> io::Result<()> {
        out.clear();
        let mut guard = self.poll.lock().unwrap_or_else(|e| e.into_inner());
        let (poll, events) = &mut *guard;
        let mut take = || -> io::Result<()> {
            poll.poll(events, Some(std::time::Duration::ZERO))?;
            out.extend(events.iter().map(|e| e.token().0 as u16));
            if out.is_empty() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(())
        };
        // As for the shared sockets (`driver::with_readiness`): when tokio
        // believes nothing is ready, ask the kernel anyway, as a busy
        // shard seldom lets tokio refresh its view.
        match self.watch.try_io(tokio::io::Interest::READABLE, |_| take()) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => take(),
            r => r,
        }
    }

    /// Completes when some socket may hold a datagram.
    pub async fn readable(&self) {
        if let Ok(mut guard) = self.watch.readable().await {
            // Readiness is cleared by `ready` finding nothing; keep it.
            guard.retain_ready();
        }
    }
}

/// One socket of a pair: non-blocking, default buffers (each carries one
/// call's 50 packets a second).
fn bind_one(ip: IpAddr, port: u16) -> io::Result<UdpSocket> {
    let socket = UdpSocket::bind(SocketAddr::new(ip, port))?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pairs_in_use_are_skipped_and_datagrams_name_their_port() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        // Find a free stretch by binding one pair, then occupy its RTCP port.
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        let base = probe.local_addr().unwrap().port() & !1;
        drop(probe);
        let (first, last) = (base.saturating_sub(40) & !1, base.saturating_sub(31));
        let taken = UdpSocket::bind(SocketAddr::new(ip, first + 3)).unwrap();
        let pool = PortSockets::bind(ip, first, last).unwrap();
        assert!(
            !pool.rtp_ports().contains(&(first + 2)),
            "its RTCP port is taken"
        );
        assert!(!pool.rtp_ports().is_empty());
        assert!(pool.socket(first + 3).is_none());
        drop(taken);

        let mut ready = Vec::new();
        assert_eq!(
            pool.ready(&mut ready).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let target = *pool.rtp_ports().last().unwrap();
        sender.send_to(b"rtcp", (ip, target + 1)).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(2), pool.readable())
            .await
            .expect("the poll wakes tokio");
        pool.ready(&mut ready).unwrap();
        assert_eq!(ready, vec![target + 1]);
        let mut buf = [0u8; 16];
        let (n, _) = pool
            .socket(target + 1)
            .unwrap()
            .recv_from(&mut buf)
            .unwrap();
        assert_eq!(&buf[..n], b"rtcp");
    }
}
