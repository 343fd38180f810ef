//! Per-call cost of the media session: one 20 ms tick (send a prompt frame,
//! play out a received one) with its packets in and out.
//!
//! Run with `cargo bench -p kuulo-media --bench session`; figures go in
//! docs/benchmarks.md.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use kuulo_media::prompt::EncodedPrompt;
use kuulo_media::rtp::RtpBuilder;
use kuulo_media::sdp::{AudioCodec, Direction, Negotiated};
use kuulo_media::session::{DtmfDetectMode, MediaSession, SessionConfig, SessionEvent, TICK};

fn config(remote: SocketAddr, seed: u64) -> SessionConfig {
    let n = Negotiated {
        codec: AudioCodec::Pcmu,
        payload_type: 0,
        telephone_event: Some(101),
        remote,
        direction: Direction::SendRecv,
        remote_ptime: None,
        remote_maxptime: None,
    };
    SessionConfig::new(&n, seed)
}

fn prompt() -> Arc<EncodedPrompt> {
    let samples: Vec<i16> = (0..80_000)
        .map(|i| (7000.0 * (i as f32 * 0.21).sin()) as i16)
        .collect();
    Arc::new(EncodedPrompt::from_samples(&samples, AudioCodec::Pcmu).unwrap())
}

fn session(c: &mut Criterion) {
    let a_addr: SocketAddr = "10.0.0.1:4000".parse().unwrap();
    let b_addr: SocketAddr = "10.0.0.2:5000".parse().unwrap();
    let prompt = prompt();
    let mut group = c.benchmark_group("session");

    // One tick of a call in both directions: A sends a prompt frame to B,
    // B sends silence back, each plays out what it received.
    group.throughput(Throughput::Elements(2));
    group.bench_function("pair_tick", |bench| {
        let t0 = Instant::now();
        let mut a = MediaSession::new(t0, config(b_addr, 1)).unwrap();
        let mut b = MediaSession::new(t0, config(a_addr, 2)).unwrap();
        a.play(Arc::clone(&prompt)).unwrap();
        let mut now = t0;
        bench.iter(|| {
            a.handle_timeout(now);
            b.handle_timeout(now);
            while let Some(t) = a.poll_transmit() {
                b.handle_receive(now, a_addr, black_box(t.contents));
            }
            while let Some(t) = b.poll_transmit() {
                a.handle_receive(now, b_addr, black_box(t.contents));
            }
            while let Some(e) = a.poll_event() {
                if e == SessionEvent::PlaybackFinished {
                    a.play(Arc::clone(&prompt)).unwrap();
                }
            }
            while b.poll_event().is_some() {}
            now += TICK;
        })
    });

    // The send side alone: one tick and its one packet out.
    group.throughput(Throughput::Elements(1));
    group.bench_function("send_tick", |bench| {
        let t0 = Instant::now();
        let mut a = MediaSession::new(t0, config(b_addr, 3)).unwrap();
        a.play(Arc::clone(&prompt)).unwrap();
        let mut now = t0;
        bench.iter(|| {
            a.handle_timeout(now);
            while let Some(t) = a.poll_transmit() {
                black_box(t.contents);
            }
            while let Some(e) = a.poll_event() {
                if e == SessionEvent::PlaybackFinished {
                    a.play(Arc::clone(&prompt)).unwrap();
                }
            }
            now += TICK;
        })
    });

    // The receive side alone: one packet in (parse, checks, jitter push)
    // and the tick that plays it out (decode, in-band DTMF detector unless
    // the detect mode leaves it out: `Auto` after the peer's first RFC 4733
    // event costs what `Rfc4733Only` does).
    for (name, mode) in [
        ("receive_tick", DtmfDetectMode::Both),
        ("receive_tick_rfc4733_only", DtmfDetectMode::Rfc4733Only),
    ] {
        receive_tick(&mut group, name, mode, a_addr);
    }
    group.finish();
}

fn receive_tick(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    mode: DtmfDetectMode,
    a_addr: SocketAddr,
) {
    group.bench_function(name, |bench| {
        let t0 = Instant::now();
        let mut cfg = config(a_addr, 4);
        cfg.dtmf_detect = mode;
        let mut b = MediaSession::new(t0, cfg).unwrap();
        let payload = [0x55u8; 160];
        let mut buf = [0u8; 256];
        let mut seq = 0u16;
        let mut ts = 0u32;
        let mut now = t0;
        bench.iter(|| {
            let n = RtpBuilder {
                marker: false,
                payload_type: 0,
                sequence: seq,
                timestamp: ts,
                ssrc: 0x1234_5678,
                csrc: &[],
                extension: None,
                payload: &payload,
                padding: 0,
            }
            .write_to(&mut buf)
            .unwrap();
            b.handle_receive(now, a_addr, black_box(&buf[..n]));
            // Keep the buffer draining so pushes stay in the steady state.
            b.handle_timeout(now);
            while b.poll_transmit().is_some() {}
            seq = seq.wrapping_add(1);
            ts = ts.wrapping_add(160);
            now += Duration::from_millis(20);
        })
    });
}

criterion_group!(benches, session);
criterion_main!(benches);
