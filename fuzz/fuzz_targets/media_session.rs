#![no_main]
//! Arbitrary datagrams into a media session, from the peer and from a
//! stranger, interleaved with ticks: nothing may panic, and the session
//! must keep sending on its clock.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kuulo_media::sdp::{AudioCodec, Direction, Negotiated};
use kuulo_media::session::{MediaSession, SessionConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let peer: SocketAddr = "10.0.0.1:4000".parse().unwrap();
    let stranger: SocketAddr = "10.9.9.9:4000".parse().unwrap();
    let n = Negotiated {
        codec: AudioCodec::Pcmu,
        payload_type: 0,
        telephone_event: Some(101),
        remote: peer,
        direction: Direction::SendRecv,
        remote_ptime: None,
        remote_maxptime: None,
    };
    let mut config = SessionConfig::new(&n, 7);
    config.rtcp_mux = true;
    let t0 = Instant::now();
    let Ok(mut s) = MediaSession::new(t0, config) else {
        return;
    };
    let mut now = t0;
    // Length-prefixed datagrams; the prefix's top bit picks the source and
    // the next bit advances the clock by a tick.
    let mut rest = data;
    while let Some((&head, tail)) = rest.split_first() {
        let len = (usize::from(head & 0x3F) * 4).min(tail.len());
        let (datagram, tail) = tail.split_at(len);
        let from = if head & 0x80 != 0 { stranger } else { peer };
        let _ = s.accepts(from, datagram);
        s.handle_receive(now, from, datagram);
        if head & 0x40 != 0 {
            now += Duration::from_millis(20);
            s.handle_timeout(now);
        }
        while s.poll_transmit().is_some() {}
        while s.poll_event().is_some() {}
        rest = tail;
    }
    now += Duration::from_secs(1);
    s.handle_timeout(now);
    let _ = s.stats();
});
