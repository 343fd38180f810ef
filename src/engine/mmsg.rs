//! Batched UDP I/O: many datagrams per system call with Linux's
//! `sendmmsg(2)` and `recvmmsg(2)`, and a sub-millisecond timer
//! (`timerfd`), and the open-files limit, behind a safe API. With
//! `engine::realtime` (one scheduler call) and `engine::port_sockets` (one
//! tokio registration), the only module of the library with `unsafe`
//! code.
//!
//! Why by hand: the standard library and tokio send one datagram per call,
//! socket2 has no `sendmmsg`, and quinn-udp batches only to one
//! destination (GSO) while a media shard sends each datagram to a
//! different peer. At thousands of calls the per-call syscall overhead is
//! what the shard's core spends most on, so one call per batch pays.
//!
//! Both calls are non-blocking (the sockets are in non-blocking mode for
//! tokio); a caller goes through tokio's `try_io` so its readiness state
//! stays right. Elsewhere than Linux they fall back to one datagram per
//! call with the same results.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;

/// Most datagrams moved by one call.
pub const BATCH: usize = 64;
/// Largest datagram [`RecvBatch`] keeps whole; media datagrams are far
/// smaller (the media session sends at most 512 bytes).
pub const RECV_SIZE: usize = 2048;

/// Datagrams received by one [`RecvBatch::recv`], with their sources.
pub struct RecvBatch {
    bufs: Box<[[u8; RECV_SIZE]; BATCH]>,
    meta: [(usize, SocketAddr); BATCH],
    count: usize,
}

impl std::fmt::Debug for RecvBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch")
            .field("count", &self.count)
            .finish()
    }
}

impl RecvBatch {
    /// Room for [`BATCH`] datagrams, allocated once.
    pub fn new() -> RecvBatch {
        RecvBatch {
            bufs: Box::new([[0; RECV_SIZE]; BATCH]),
            meta: [(0, SocketAddr::from(([0, 0, 0, 0], 0))); BATCH],
            count: 0,
        }
    }

    /// How many datagrams the last receive got.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Datagram `i` of the last receive: its source and bytes.
    pub fn get(&self, i: usize) -> Option<(SocketAddr, &[u8])> {
        (i < self.count).then(|| {
            let (len, from) = self.meta[i];
            (from, &self.bufs[i][..len])
        })
    }

    /// Reads what is queued on `socket`, up to [`BATCH`] datagrams,
    /// without blocking; `WouldBlock` when nothing is.
    pub fn recv(&mut self, socket: &impl AsFd) -> io::Result<usize> {
        self.count = 0;
        let n = sys::recv_batch(socket.as_fd(), &mut self.bufs, &mut self.meta)?;
        self.count = n;
        Ok(n)
    }
}

/// Sends up to [`BATCH`] datagrams from `socket` in one call, without
/// blocking. Returns how many the kernel took (at least one, in order);
/// an error (`WouldBlock` for a full buffer) says the first was not sent.
pub fn send_batch<'a>(
    socket: &impl AsFd,
    datagrams: impl IntoIterator<Item = (SocketAddr, &'a [u8])>,
) -> io::Result<usize> {
    sys::send_batch(socket.as_fd(), datagrams)
}

/// Reads one datagram of any size up to `buf`'s without blocking (SIP
/// messages can be far larger than [`RECV_SIZE`]); `WouldBlock` when none
/// is queued.
pub fn recv_from(socket: &impl AsFd, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
    sys::recv_from(socket.as_fd(), buf)
}

/// Raises the soft limit on open files towards `want`, as far as the hard
/// limit allows (Debian's default soft limit, 1,024, is too low for a
/// port pool or a thousand residents' sockets); returns the limit now in
/// force.
pub fn raise_open_files(want: u64) -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < want as libc::rlim_t {
            let old = limit.rlim_cur;
            limit.rlim_cur = limit.rlim_max.min(want as libc::rlim_t);
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                limit.rlim_cur = old;
            }
        }
        limit.rlim_cur
    }
}

/// A sleep precise to tens of microseconds, for the shard's clock:
/// tokio's timer rounds every sleep up to a whole millisecond, which, for
/// a shard that runs its calls' 20 ms ticks in rounds, makes the rounds
/// (and so the send intervals) wander by up to two milliseconds. On Linux
/// this is a `timerfd` watched by tokio; elsewhere tokio's sleep.
#[derive(Debug)]
pub struct PreciseTimer {
    #[cfg(target_os = "linux")]
    fd: Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>>,
}

impl PreciseTimer {
    /// A disarmed timer (tokio's sleep if no `timerfd` can be had). Call
    /// inside a tokio runtime.
    pub fn new() -> PreciseTimer {
        #[cfg(target_os = "linux")]
        {
            let fd = sys::timerfd().and_then(|fd| {
                // SAFETY: an `OwnedFd` stays open, and names the same
                // descriptor, until the `AsyncFd` that owns it is dropped.
                let registered = unsafe {
                    tokio::io::unix::AsyncFd::register_with_interest(
                        fd,
                        tokio::io::Interest::READABLE,
                    )
                };
                registered.map_err(io::Error::from)
            });
            if let Err(e) = &fd {
                tracing::debug!(error = %e, "no timerfd: the shard clock uses tokio's timer");
            }
            PreciseTimer { fd: fd.ok() }
        }
        #[cfg(not(target_os = "linux"))]
        PreciseTimer {}
    }

    /// Completes at `deadline` (at once if it has passed). Dropping the
    /// future early is fine: the next call re-arms the timer.
    pub async fn sleep_until(&self, deadline: std::time::Instant) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return;
        }
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.fd {
            if sys::arm(fd.get_ref().as_fd(), left).is_ok() {
                loop {
                    let Ok(mut ready) = fd.readable().await else {
                        break;
                    };
                    // Re-arming reset the count, so an expiry read here is
                    // this deadline's (a stale readiness reads nothing).
                    if let Ok(Ok(())) = ready.try_io(|fd| sys::expired(fd.get_ref().as_fd())) {
                        return;
                    }
                }
            }
        }
        tokio::time::sleep_until(deadline.into()).await
    }
}

#[cfg(target_os = "linux")]
mod sys {
    use super::{BATCH, RECV_SIZE};
    use std::io;
    use std::mem::{size_of, zeroed};
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
    use std::os::fd::{AsRawFd, BorrowedFd};

    /// Writes `addr` in the kernel's form; returns its length.
    fn to_raw(addr: &SocketAddr, out: &mut libc::sockaddr_storage) -> libc::socklen_t {
        match addr {
            SocketAddr::V4(a) => {
                // SAFETY: sockaddr_storage is large and aligned enough for
                // every address family, sockaddr_in included.
                let sin = unsafe { &mut *(out as *mut _ as *mut libc::sockaddr_in) };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = a.port().to_be();
                sin.sin_addr = libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                };
                size_of::<libc::sockaddr_in>() as libc::socklen_t
            }
            SocketAddr::V6(a) => {
                // SAFETY: as above, for sockaddr_in6.
                let sin6 = unsafe { &mut *(out as *mut _ as *mut libc::sockaddr_in6) };
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = a.port().to_be();
                sin6.sin6_flowinfo = a.flowinfo();
                sin6.sin6_addr = libc::in6_addr {
                    s6_addr: a.ip().octets(),
                };
                sin6.sin6_scope_id = a.scope_id();
                size_of::<libc::sockaddr_in6>() as libc::socklen_t
            }
        }
    }

    /// Reads an address the kernel wrote; `None` for a family we do not
    /// speak (never on a UDP/IP socket).
    fn from_raw(raw: &libc::sockaddr_storage) -> Option<SocketAddr> {
        match i32::from(raw.ss_family) {
            libc::AF_INET => {
                // SAFETY: the family says the storage holds a sockaddr_in.
                let sin = unsafe { &*(raw as *const _ as *const libc::sockaddr_in) };
                Some(SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes()),
                    u16::from_be(sin.sin_port),
                )))
            }
            libc::AF_INET6 => {
                // SAFETY: the family says the storage holds a sockaddr_in6.
                let sin6 = unsafe { &*(raw as *const _ as *const libc::sockaddr_in6) };
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }

    /// A non-blocking monotonic `timerfd`.
    pub fn timerfd() -> io::Result<std::os::fd::OwnedFd> {
        use std::os::fd::FromRawFd;
        // SAFETY: plain system call; it returns a new descriptor or -1.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a descriptor we own and nothing else holds.
        Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
    }

    /// Arms `fd` to expire once, `after` from now; resets its count.
    pub fn arm(fd: BorrowedFd<'_>, after: std::time::Duration) -> io::Result<()> {
        // A zero value would disarm the timer: expire in 1 ns instead.
        let ns = after.as_nanos().max(1);
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: (ns / 1_000_000_000) as libc::time_t,
                tv_nsec: (ns % 1_000_000_000) as libc::c_long,
            },
        };
        // SAFETY: `spec` is a valid itimerspec on this frame; the old
        // value is not asked for.
        let r = unsafe { libc::timerfd_settime(fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Reads the expiry count of `fd`: `WouldBlock` before it expired.
    pub fn expired(fd: BorrowedFd<'_>) -> io::Result<()> {
        let mut count = 0u64;
        // SAFETY: reads at most 8 bytes into `count`, which has 8.
        let n = unsafe {
            libc::read(
                fd.as_raw_fd(),
                &mut count as *mut u64 as *mut libc::c_void,
                size_of::<u64>(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn recv_from(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        // SAFETY: all-zero is a valid sockaddr_storage.
        let mut addr: libc::sockaddr_storage = unsafe { zeroed() };
        let mut addr_len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`
        // and at most `addr_len` into `addr`, both exclusively borrowed.
        let n = unsafe {
            libc::recvfrom(
                fd.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                libc::MSG_DONTWAIT,
                &mut addr as *mut _ as *mut libc::sockaddr,
                &mut addr_len,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let from = from_raw(&addr)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP source"))?;
        Ok((n as usize, from))
    }

    pub fn send_batch<'a>(
        fd: BorrowedFd<'_>,
        datagrams: impl IntoIterator<Item = (SocketAddr, &'a [u8])>,
    ) -> io::Result<usize> {
        // SAFETY: all-zero is a valid value of these plain C structs.
        let mut addrs: [libc::sockaddr_storage; BATCH] = unsafe { zeroed() };
        let mut iovs: [libc::iovec; BATCH] = unsafe { zeroed() };
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        let mut n = 0;
        for (to, bytes) in datagrams.into_iter().take(BATCH) {
            let len = to_raw(&to, &mut addrs[n]);
            iovs[n] = libc::iovec {
                iov_base: bytes.as_ptr() as *mut libc::c_void,
                iov_len: bytes.len(),
            };
            let hdr = &mut msgs[n].msg_hdr;
            hdr.msg_name = &mut addrs[n] as *mut _ as *mut libc::c_void;
            hdr.msg_namelen = len;
            hdr.msg_iov = &mut iovs[n];
            hdr.msg_iovlen = 1;
            n += 1;
        }
        if n == 0 {
            return Ok(0);
        }
        // SAFETY: `msgs[..n]` point at `addrs` and `iovs`, which live on
        // this frame, and at the callers' byte slices, borrowed for 'a;
        // the kernel only reads them (sendmmsg does not write payloads).
        let sent = unsafe {
            libc::sendmmsg(
                fd.as_raw_fd(),
                msgs.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(sent as usize)
    }

    pub fn recv_batch(
        fd: BorrowedFd<'_>,
        bufs: &mut [[u8; RECV_SIZE]; BATCH],
        meta: &mut [(usize, SocketAddr); BATCH],
    ) -> io::Result<usize> {
        // SAFETY: all-zero is a valid value of these plain C structs.
        let mut addrs: [libc::sockaddr_storage; BATCH] = unsafe { zeroed() };
        let mut iovs: [libc::iovec; BATCH] = unsafe { zeroed() };
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        for i in 0..BATCH {
            iovs[i] = libc::iovec {
                iov_base: bufs[i].as_mut_ptr() as *mut libc::c_void,
                iov_len: RECV_SIZE,
            };
            let hdr = &mut msgs[i].msg_hdr;
            hdr.msg_name = &mut addrs[i] as *mut _ as *mut libc::c_void;
            hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            hdr.msg_iov = &mut iovs[i];
            hdr.msg_iovlen = 1;
        }
        // SAFETY: every header points at an address slot on this frame
        // and at one of `bufs`, exclusively borrowed, with their true
        // sizes; the kernel writes no further than those.
        let got = unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                msgs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if got < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut kept = 0;
        for i in 0..got as usize {
            // A truncated datagram (MSG_TRUNC) is larger than any media
            // packet: drop it as the single-datagram path would misread it.
            if msgs[i].msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                continue;
            }
            let Some(from) = from_raw(&addrs[i]) else {
                continue;
            };
            let len = msgs[i].msg_len as usize;
            if kept != i {
                let (done, rest) = bufs.split_at_mut(i);
                done[kept][..len].copy_from_slice(&rest[0][..len]);
            }
            meta[kept] = (len, from);
            kept += 1;
        }
        Ok(kept)
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    use super::{BATCH, RECV_SIZE};
    use std::io;
    use std::net::{SocketAddr, UdpSocket};
    use std::os::fd::BorrowedFd;

    fn with_socket<T>(fd: BorrowedFd<'_>, f: impl FnOnce(&UdpSocket) -> T) -> io::Result<T> {
        // A second handle on the same socket, closed again below without
        // closing the original.
        let owned = fd.try_clone_to_owned()?;
        let socket = UdpSocket::from(owned);
        Ok(f(&socket))
    }

    pub fn send_batch<'a>(
        fd: BorrowedFd<'_>,
        datagrams: impl IntoIterator<Item = (SocketAddr, &'a [u8])>,
    ) -> io::Result<usize> {
        with_socket(fd, |s| {
            let mut sent = 0;
            for (to, bytes) in datagrams.into_iter().take(BATCH) {
                match s.send_to(bytes, to) {
                    Ok(_) => sent += 1,
                    Err(e) if sent == 0 => return Err(e),
                    Err(_) => break,
                }
            }
            Ok(sent)
        })?
    }

    pub fn recv_from(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        with_socket(fd, |s| s.recv_from(buf))?
    }

    pub fn recv_batch(
        fd: BorrowedFd<'_>,
        bufs: &mut [[u8; RECV_SIZE]; BATCH],
        meta: &mut [(usize, SocketAddr); BATCH],
    ) -> io::Result<usize> {
        with_socket(fd, |s| {
            let mut got = 0;
            while got < BATCH {
                match s.recv_from(&mut bufs[got]) {
                    Ok((n, from)) => {
                        meta[got] = (n, from);
                        got += 1;
                    }
                    Err(e) if got == 0 => return Err(e),
                    Err(_) => break,
                }
            }
            Ok(got)
        })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    fn pair() -> (UdpSocket, UdpSocket) {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        (a, b)
    }

    #[test]
    fn a_batch_goes_out_and_comes_back_in_order() {
        let (a, b) = pair();
        let (c, _) = pair();
        let to_b = b.local_addr().unwrap();
        let to_c = c.local_addr().unwrap();
        let payloads: Vec<Vec<u8>> = (0..100u8).map(|i| vec![i; 12 + usize::from(i)]).collect();
        // Every other datagram to another peer: one call, many peers.
        let all: Vec<(SocketAddr, &[u8])> = payloads
            .iter()
            .enumerate()
            .map(|(i, p)| (if i % 2 == 0 { to_b } else { to_c }, p.as_slice()))
            .collect();
        let mut sent = 0;
        while sent < all.len() {
            sent += send_batch(&a, all[sent..].iter().copied()).unwrap();
        }
        assert_eq!(sent, 100);

        let mut batch = RecvBatch::new();
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while got.len() < 50 && std::time::Instant::now() < deadline {
            match batch.recv(&b) {
                Ok(n) => {
                    assert!(n <= BATCH);
                    for i in 0..batch.len() {
                        let (from, bytes) = batch.get(i).unwrap();
                        assert_eq!(from, a.local_addr().unwrap());
                        got.push(bytes.to_vec());
                    }
                    assert!(batch.get(batch.len()).is_none());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(1))
                }
                Err(e) => panic!("{e}"),
            }
        }
        let want: Vec<Vec<u8>> = payloads.iter().step_by(2).cloned().collect();
        assert_eq!(got, want);
    }

    #[test]
    fn nothing_queued_would_block_and_nothing_to_send_is_zero() {
        let (a, _) = pair();
        let mut batch = RecvBatch::new();
        let e = batch.recv(&a).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert_eq!(batch.len(), 0);
        assert_eq!(send_batch(&a, std::iter::empty()).unwrap(), 0);
    }

    #[test]
    fn a_large_datagram_comes_whole_through_recv_from() {
        let (a, b) = pair();
        let to = b.local_addr().unwrap();
        let big = vec![7u8; 9000];
        assert_eq!(send_batch(&a, [(to, big.as_slice())]).unwrap(), 1);
        let mut buf = vec![0u8; 65536];
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let (n, from) = loop {
            match recv_from(&b, &mut buf) {
                Ok(got) => break got,
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(1))
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!((n, from), (9000, a.local_addr().unwrap()));
        assert_eq!(&buf[..n], big.as_slice());
        let e = recv_from(&b, &mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn the_precise_timer_wakes_on_time_and_survives_being_dropped() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let timer = PreciseTimer::new();
            let start = std::time::Instant::now();
            let mut worst = std::time::Duration::ZERO;
            for i in 1..=20u32 {
                let at = start + std::time::Duration::from_micros(700) * i;
                timer.sleep_until(at).await;
                let now = std::time::Instant::now();
                assert!(now >= at, "woke early");
                worst = worst.max(now - at);
            }
            // Only a sanity bound: a loaded machine may wake us late.
            assert!(worst < std::time::Duration::from_millis(200), "{worst:?}");
            // A sleep cancelled before its deadline leaves no stale expiry
            // that would end the next one early.
            let soon = std::time::Instant::now() + std::time::Duration::from_millis(1);
            tokio::select! {
                _ = timer.sleep_until(soon + std::time::Duration::from_secs(5)) => panic!(),
                _ = tokio::time::sleep_until(soon.into()) => {}
            }
            let at = std::time::Instant::now() + std::time::Duration::from_millis(20);
            timer.sleep_until(at).await;
            assert!(std::time::Instant::now() >= at);
            // A deadline in the past returns at once.
            timer.sleep_until(start).await;
        });
    }

    #[test]
    fn ipv6_addresses_round_trip() {
        let Ok(a) = UdpSocket::bind("[::1]:0") else {
            return; // no IPv6 loopback here
        };
        let b = UdpSocket::bind("[::1]:0").unwrap();
        b.set_nonblocking(true).unwrap();
        let to = b.local_addr().unwrap();
        assert_eq!(send_batch(&a, [(to, &b"hello"[..])]).unwrap(), 1);
        let mut batch = RecvBatch::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match batch.recv(&b) {
                Ok(_) => break,
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(1))
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(batch.get(0), Some((a.local_addr().unwrap(), &b"hello"[..])));
    }
}
