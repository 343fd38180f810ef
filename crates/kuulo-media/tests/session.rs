//! Two media sessions back to back in virtual time.

mod session_util;

use std::sync::Arc;
use std::time::{Duration, Instant};

use kuulo_media::prompt::EncodedPrompt;
use kuulo_media::recording::{RecordingConfig, RecordingOutcome};
use kuulo_media::rtcp::{RtcpCompound, RtcpPacket};
use kuulo_media::rtp::RtpPacket;
use kuulo_media::sdp::AudioCodec;
use kuulo_media::session::{
    DtmfSendMode, DtmfSource, IdleMode, LatchPolicy, MediaSession, PacketKind, SessionError,
    SessionEvent,
};
use session_util::{addr, config, Pair, Side, A_ADDR, B_ADDR};

const KEYS: &str = "0123456789*#ABCD55";

/// A prompt of a 440 Hz tone, `ms` long.
fn tone_prompt(ms: usize) -> Arc<EncodedPrompt> {
    let samples: Vec<i16> = (0..ms * 8)
        .map(|i| (8000.0 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 8000.0).sin()) as i16)
        .collect();
    Arc::new(EncodedPrompt::from_samples(&samples, AudioCodec::Pcmu).unwrap())
}

fn pair_with(te: Option<u8>, mode: DtmfSendMode) -> Pair {
    let t0 = Instant::now();
    let mut ca = config(addr(B_ADDR), te, 1);
    ca.dtmf_send = mode;
    let cb = config(addr(A_ADDR), te, 2);
    let a = MediaSession::new(t0, ca).unwrap();
    let b = MediaSession::new(t0 + Duration::from_millis(7), cb).unwrap();
    Pair::new(t0, a, b)
}

fn send_keys_and_check(mut p: Pair, want: Option<DtmfSource>) {
    p.a.play(tone_prompt(3000)).unwrap();
    p.run_for(Duration::from_millis(500));
    for k in KEYS.chars() {
        p.a.send_dtmf(k).unwrap();
    }
    p.run_for(Duration::from_secs(8));
    assert!(!p.a.is_sending_dtmf());
    let got = p.b_digits();
    let keys: String = got.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, KEYS, "{got:?}");
    if let Some(source) = want {
        assert!(got.iter().all(|(_, s)| *s == source), "{got:?}");
    }
    assert!(p.a_finished_playing());
}

#[test]
fn rfc4733_digits_arrive_once_each() {
    send_keys_and_check(
        pair_with(Some(101), DtmfSendMode::Rfc4733),
        Some(DtmfSource::Rfc4733),
    );
}

#[test]
fn inband_digits_arrive_once_each() {
    send_keys_and_check(
        pair_with(None, DtmfSendMode::Auto),
        Some(DtmfSource::InBand),
    );
}

#[test]
fn digits_sent_both_ways_are_reported_once() {
    send_keys_and_check(pair_with(Some(101), DtmfSendMode::Both), None);
}

#[test]
fn both_ways_with_jitter_and_loss_still_once() {
    let mut p = pair_with(Some(101), DtmfSendMode::Both);
    p.latency = Duration::from_millis(40);
    let mut n = 0u32;
    // Lose one audio packet in 50; keep telephone events (they carry
    // their own redundancy, tested in dtmf's tests).
    p.drop = Box::new(move |s| {
        n += 1;
        s.kind == PacketKind::Rtp && s.bytes[1] & 0x7F == 0 && n % 50 == 0
    });
    send_keys_and_check(p, None);
}

#[test]
fn rfc4733_over_a_reordering_link() {
    let mut p = pair_with(Some(101), DtmfSendMode::Rfc4733);
    let mut x = 0x9E37_79B9u32;
    // 0-60 ms of extra delay per packet: packets overtake each other.
    p.extra_delay = Box::new(move |_| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        Duration::from_millis(u64::from(x % 61))
    });
    send_keys_and_check(p, Some(DtmfSource::Rfc4733));
}

#[test]
fn sessions_can_move_between_threads() {
    fn send<T: Send>() {}
    send::<MediaSession>();
}

#[test]
fn rtp_headers_are_continuous() {
    let mut p = pair_with(Some(101), DtmfSendMode::Rfc4733);
    p.a.play(tone_prompt(200)).unwrap();
    p.run_for(Duration::from_millis(100));
    p.a.send_dtmf('7').unwrap();
    p.run_for(Duration::from_secs(2));
    let rtp: Vec<RtpPacket<'_>> = p
        .sent
        .iter()
        .filter(|s| s.from == Side::A && s.kind == PacketKind::Rtp)
        .map(|s| RtpPacket::parse(&s.bytes).unwrap())
        .collect();
    assert!(rtp.len() > 100);
    let ssrc = p.a.ssrc();
    assert!(rtp.iter().all(|r| r.ssrc == ssrc));
    for w in rtp.windows(2) {
        assert_eq!(w[1].sequence, w[0].sequence.wrapping_add(1));
    }
    let audio: Vec<_> = rtp.iter().filter(|r| r.payload_type == 0).collect();
    assert!(audio[0].marker, "first packet has the marker");
    assert!(audio[1..].iter().all(|r| !r.marker));
    for w in audio.windows(2) {
        assert_eq!(w[1].timestamp.wrapping_sub(w[0].timestamp), 160);
        assert_eq!(w[1].payload.len(), 160);
    }
    let events: Vec<_> = rtp.iter().filter(|r| r.payload_type == 101).collect();
    assert!(events[0].marker);
    assert!(events.iter().all(|r| r.timestamp == events[0].timestamp));
    // Three end packets.
    assert_eq!(
        events.iter().filter(|r| r.payload[1] & 0x80 != 0).count(),
        3
    );
    // 50 packets a second, on time.
    let (a, _) = p.stats();
    assert_eq!(a.send_interval.max(), Duration::ZERO);
    assert!(a.send_interval.count() > 100);
}

#[test]
fn idle_nothing_sends_nothing_and_marks_talk_spurts() {
    let t0 = Instant::now();
    let mut ca = config(addr(B_ADDR), None, 3);
    ca.idle = IdleMode::Nothing;
    let a = MediaSession::new(t0, ca).unwrap();
    let b = MediaSession::new(t0, config(addr(A_ADDR), None, 4)).unwrap();
    let mut p = Pair::new(t0, a, b);
    p.run_for(Duration::from_secs(1));
    let count = |p: &Pair| {
        p.sent
            .iter()
            .filter(|s| s.from == Side::A && s.kind == PacketKind::Rtp)
            .count()
    };
    assert_eq!(count(&p), 0);
    p.a.play(tone_prompt(100)).unwrap();
    p.run_for(Duration::from_secs(1));
    assert_eq!(count(&p), 5);
    let first = p
        .sent
        .iter()
        .find(|s| s.from == Side::A && s.kind == PacketKind::Rtp)
        .unwrap();
    assert!(RtpPacket::parse(&first.bytes).unwrap().marker);
}

#[test]
fn first_packet_latching_follows_nat_and_refuses_hijack() {
    let t0 = Instant::now();
    // A's SDP names a private address; its packets come through a NAT.
    let a = MediaSession::new(t0, config(addr(B_ADDR), None, 5)).unwrap();
    let b = MediaSession::new(t0, config(addr("192.168.1.10:4000"), None, 6)).unwrap();
    let mut p = Pair::new(t0, a, b);
    let nat = addr("203.0.113.7:40000");
    p.a_seen_as = nat;
    p.run_for(Duration::from_secs(1));
    let latched: Vec<_> = p
        .b_events
        .iter()
        .filter_map(|(_, e)| match e {
            SessionEvent::RemoteLatched(x) => Some(*x),
            _ => None,
        })
        .collect();
    assert_eq!(latched, vec![nat]);
    assert_eq!(p.b.destination(), nat);
    // B's packets now reach A.
    assert!(p.a.stats().packets_received > 30);

    // Another source is refused and does not move the stream.
    let mut fake = [0u8; 172];
    fake[0] = 0x80;
    fake[8..12].copy_from_slice(&p.a.ssrc().to_be_bytes());
    let before = p.b.stats();
    p.b.handle_receive(p.now, addr("198.51.100.66:6666"), &fake);
    assert_eq!(p.b.stats().rejected_source, before.rejected_source + 1);
    assert_eq!(p.b.stats().packets_received, before.packets_received);
    assert_eq!(p.b.destination(), nat);
    assert!(!p.b.accepts(addr("198.51.100.66:6666"), &fake));
    assert!(p.b.accepts(nat, &fake));
}

#[test]
fn sdp_address_only_ignores_nat() {
    let t0 = Instant::now();
    let a = MediaSession::new(t0, config(addr(B_ADDR), None, 7)).unwrap();
    let mut cb = config(addr("192.168.1.10:4000"), None, 8);
    cb.latch = LatchPolicy::SdpAddressOnly;
    let b = MediaSession::new(t0, cb).unwrap();
    let mut p = Pair::new(t0, a, b);
    p.a_seen_as = addr("203.0.113.7:40000");
    p.run_for(Duration::from_secs(1));
    let s = p.b.stats();
    assert_eq!(s.packets_received, 0);
    assert!(s.rejected_source > 40);
    assert_eq!(p.b.destination(), addr("192.168.1.10:4000"));
    assert!(!p
        .b_events
        .iter()
        .any(|(_, e)| matches!(e, SessionEvent::RemoteLatched(_))));
}

#[test]
fn inactivity_is_reported_once_per_silence() {
    let t0 = Instant::now();
    let a = MediaSession::new(t0, config(addr(B_ADDR), None, 9)).unwrap();
    let mut cb = config(addr(A_ADDR), None, 10);
    cb.inactivity_timeout = Duration::from_secs(5);
    let b = MediaSession::new(t0, cb).unwrap();
    let mut p = Pair::new(t0, a, b);
    // A's packets stop reaching B from 2 s to 20 s.
    let start = t0;
    p.drop = Box::new(move |s| {
        let t = s.at.duration_since(start);
        s.from == Side::A && t >= Duration::from_secs(2) && t < Duration::from_secs(20)
    });
    p.run_for(Duration::from_secs(19));
    let inactive: Vec<_> = p
        .b_events
        .iter()
        .filter(|(_, e)| *e == SessionEvent::Inactive)
        .map(|(t, _)| t.duration_since(t0))
        .collect();
    assert_eq!(inactive.len(), 1, "{inactive:?}");
    assert!(inactive[0] >= Duration::from_secs(7) && inactive[0] <= Duration::from_millis(7100));
    // Traffic comes back, stops again: reported again.
    p.run_for(Duration::from_secs(2));
    p.drop = Box::new(|s| s.from == Side::A);
    p.run_for(Duration::from_secs(6));
    let n = p
        .b_events
        .iter()
        .filter(|(_, e)| *e == SessionEvent::Inactive)
        .count();
    assert_eq!(n, 2);
    assert!(!p.a_events.iter().any(|(_, e)| *e == SessionEvent::Inactive));
}

fn rtcp_times(p: &Pair, side: Side) -> Vec<(Duration, std::net::SocketAddr, Vec<u8>)> {
    p.sent
        .iter()
        .filter(|s| s.from == side && s.kind == PacketKind::Rtcp)
        .map(|s| (s.at.duration_since(p.start), s.to, s.bytes.clone()))
        .collect()
}

#[test]
fn rtcp_reports_on_the_randomised_interval() {
    let mut p = pair_with(None, DtmfSendMode::Auto);
    p.run_for(Duration::from_secs(60));
    let reports = rtcp_times(&p, Side::A);
    assert!(
        (8..=16).contains(&reports.len()),
        "{} reports",
        reports.len()
    );
    assert!(
        reports[0].0 >= Duration::from_millis(1250) && reports[0].0 <= Duration::from_millis(3750)
    );
    for w in reports.windows(2) {
        let gap = w[1].0 - w[0].0;
        assert!(
            gap >= Duration::from_millis(2500) && gap <= Duration::from_millis(7520),
            "{gap:?}"
        );
    }
    // To the RTP port + 1, as SR + SDES, reporting on B.
    let b_ssrc = p.b.ssrc();
    for (_, to, bytes) in &reports {
        assert_eq!(*to, addr("10.0.0.2:5001"));
        let c = RtcpCompound::parse(bytes).unwrap();
        let packets: Vec<_> = c.packets().collect();
        match packets[0] {
            RtcpPacket::SenderReport { ssrc, info, blocks } => {
                assert_eq!(ssrc, p.a.ssrc());
                assert!(info.packet_count > 0);
                if let Some(b) = blocks.iter().next() {
                    assert_eq!(b.ssrc, b_ssrc);
                    assert_eq!(b.cumulative_lost, 0);
                }
            }
            ref other => panic!("expected SR, got {other:?}"),
        }
        assert!(matches!(
            packets[1],
            RtcpPacket::Other {
                packet_type: 202,
                ..
            }
        ));
    }
    let (a, b) = p.stats();
    assert!(b.rtcp_received >= reports.len() as u64 - 1);
    assert_eq!(a.lost, 0);
    assert_eq!(a.malformed + b.malformed, 0);
    // About 50 packets a second each way.
    assert!(
        (2990..=3001).contains(&a.packets_sent),
        "{}",
        a.packets_sent
    );
    assert!(b.packets_received + 5 >= a.packets_sent);

    // Leaving sends a BYE.
    let now = p.now;
    p.a.close(now);
    p.drain();
    let last = rtcp_times(&p, Side::A).pop().unwrap();
    let c = RtcpCompound::parse(&last.2).unwrap();
    assert!(c.packets().any(|x| matches!(x, RtcpPacket::Bye { .. })));
    assert_eq!(p.a.poll_timeout(), None);
}

#[test]
fn rtcp_mux_uses_the_rtp_port() {
    let t0 = Instant::now();
    let mut ca = config(addr(B_ADDR), None, 11);
    ca.rtcp_mux = true;
    let a = MediaSession::new(t0, ca).unwrap();
    let b = MediaSession::new(t0, config(addr(A_ADDR), None, 12)).unwrap();
    let mut p = Pair::new(t0, a, b);
    p.run_for(Duration::from_secs(10));
    let reports = rtcp_times(&p, Side::A);
    assert!(!reports.is_empty());
    assert!(reports.iter().all(|r| r.1 == addr(B_ADDR)));
    // And the receiver tells it from RTP on the same port.
    assert!(p.b.stats().rtcp_received >= 1);
    assert_eq!(p.b.stats().malformed, 0);
}

#[test]
fn recording_ends_on_silence_and_on_hash() {
    let mut p = pair_with(Some(101), DtmfSendMode::Rfc4733);
    p.run_for(Duration::from_millis(200));
    p.b.start_recording(RecordingConfig {
        end_silence: Duration::from_secs(1),
        ..Default::default()
    });
    p.run_for(Duration::from_secs(1));
    p.a.play(tone_prompt(1500)).unwrap();
    p.run_for(Duration::from_secs(4));
    let rec = p
        .b_events
        .iter()
        .find_map(|(_, e)| match e {
            SessionEvent::RecordingFinished(r) => Some(r.clone()),
            _ => None,
        })
        .expect("recording finished");
    assert_eq!(rec.outcome, RecordingOutcome::Silence);
    // 1.5 s of tone plus 200 ms margins, within a frame.
    let ms = rec.duration().as_millis();
    assert!((1880..=1920).contains(&ms), "{ms} ms");
    assert!(!p.b.is_recording());

    p.b.start_recording(RecordingConfig::default());
    p.a.play(tone_prompt(3000)).unwrap();
    p.run_for(Duration::from_secs(1));
    p.a.send_dtmf('#').unwrap();
    p.run_for(Duration::from_secs(1));
    let outcomes: Vec<_> = p
        .b_events
        .iter()
        .filter_map(|(_, e)| match e {
            SessionEvent::RecordingFinished(r) => Some(r.outcome),
            _ => None,
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![RecordingOutcome::Silence, RecordingOutcome::Stopped]
    );
}

#[test]
fn api_errors_are_typed() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(t0, config(addr(B_ADDR), None, 13)).unwrap();
    assert_eq!(s.send_dtmf('x'), Err(SessionError::InvalidKey('x')));
    let mut c = config(addr(B_ADDR), None, 14);
    c.dtmf_send = DtmfSendMode::Rfc4733;
    let mut r = MediaSession::new(t0, c).unwrap();
    assert_eq!(r.send_dtmf('1'), Err(SessionError::NoTelephoneEvent));
    let pcma = Arc::new(EncodedPrompt::from_samples(&[0; 160], AudioCodec::Pcma).unwrap());
    assert!(matches!(
        s.play(pcma),
        Err(SessionError::PromptCodec { .. })
    ));
    for _ in 0..32 {
        s.send_dtmf('1').unwrap();
    }
    assert_eq!(s.send_dtmf('1'), Err(SessionError::DtmfQueueFull));
    // Opus has an encoder now; a PCMU prompt is refused by an Opus session.
    let mut c = config(addr(B_ADDR), None, 15);
    c.codec = AudioCodec::Opus;
    let mut opus = MediaSession::new(t0, c).unwrap();
    let pcmu = Arc::new(EncodedPrompt::from_samples(&[0; 160], AudioCodec::Pcmu).unwrap());
    assert!(matches!(
        opus.play(pcmu),
        Err(SessionError::PromptCodec { .. })
    ));
}

#[test]
fn malformed_datagrams_are_counted_not_fatal() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(t0, config(addr(A_ADDR), Some(101), 16)).unwrap();
    let from = addr(A_ADDR);
    let inputs: [&[u8]; 7] = [
        &[],
        &[0x80],
        &[0x80, 0x00, 0, 1],
        &[0x40; 20],
        &[0x8F, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1],
        &[0x80, 200, 0, 50, 1, 2, 3, 4],
        &[0x80, 101, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2],
    ];
    for d in inputs {
        s.handle_receive(t0, from, d);
    }
    s.handle_timeout(t0 + Duration::from_secs(1));
    let st = s.stats();
    assert_eq!(st.malformed, 7);
    assert_eq!(
        st.packets_received, 1,
        "the short event payload is valid RTP"
    );
}

#[test]
fn a_late_driver_skips_ticks_instead_of_bursting() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(t0, config(addr(B_ADDR), None, 17)).unwrap();
    s.handle_timeout(t0);
    while s.poll_transmit().is_some() {}
    s.handle_timeout(t0 + Duration::from_millis(500));
    let mut n = 0;
    while let Some(t) = s.poll_transmit() {
        if t.kind == PacketKind::Rtp {
            n += 1;
        }
    }
    assert_eq!(n, 1);
    assert_eq!(s.stats().ticks_skipped, 24);
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_millis(520)));
}

/// The fuzz target's loop (fuzz/fuzz_targets/media_session.rs) over
/// pseudo-random bytes and mutated real packets.
#[test]
fn arbitrary_datagrams_never_panic() {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let peer = addr(A_ADDR);
    let stranger = addr("10.9.9.9:4000");
    let t0 = Instant::now();
    let mut s = MediaSession::new(t0, config(peer, Some(101), 18)).unwrap();
    let mut real = MediaSession::new(t0, config(addr(B_ADDR), Some(101), 19)).unwrap();
    real.send_dtmf('1').unwrap();
    let mut now = t0;
    for round in 0..20_000u32 {
        let mut buf = [0u8; 256];
        let len = (next() % 256) as usize;
        if round % 3 == 0 {
            // A real packet with a few bytes flipped.
            real.handle_timeout(now);
            if let Some(t) = real.poll_transmit() {
                let n = t.contents.len().min(buf.len());
                buf[..n].copy_from_slice(&t.contents[..n]);
            }
            while real.poll_transmit().is_some() {}
            for _ in 0..(next() % 4) {
                let i = (next() % 256) as usize;
                buf[i] ^= next() as u8;
            }
        } else {
            for b in buf.iter_mut().take(len) {
                *b = next() as u8;
            }
            if round % 2 == 0 {
                buf[0] = 0x80 | (buf[0] & 0x3F);
            }
        }
        let from = if next() % 8 == 0 { stranger } else { peer };
        let _ = s.accepts(from, &buf[..len]);
        s.handle_receive(now, from, &buf[..len]);
        if next() % 2 == 0 {
            now += Duration::from_millis(20);
            s.handle_timeout(now);
        }
        while s.poll_transmit().is_some() {}
        while s.poll_event().is_some() {}
    }
    let st = s.stats();
    assert!(st.malformed > 1000);
    assert!(st.packets_sent > 9000);
}
