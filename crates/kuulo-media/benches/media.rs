//! Hot-path micro-benches: G.711 on one 20 ms frame and RTP parse/build.
//!
//! Run with `cargo bench -p kuulo-media --bench media`; figures go in
//! docs/benchmarks.md.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use kuulo_media::g711::Law;
use kuulo_media::rtp::{RtpBuilder, RtpPacket};

/// Samples in 20 ms at 8 kHz: one RTP packet of G.711.
const FRAME: usize = 160;

fn speech_like_frame() -> [i16; FRAME] {
    let mut frame = [0i16; FRAME];
    for (i, s) in frame.iter_mut().enumerate() {
        let t = i as f64 / 8000.0;
        let v = 9000.0 * (2.0 * std::f64::consts::PI * 300.0 * t).sin()
            + 4000.0 * (2.0 * std::f64::consts::PI * 1700.0 * t).sin();
        *s = v as i16;
    }
    frame
}

fn g711(c: &mut Criterion) {
    let pcm = speech_like_frame();
    let mut group = c.benchmark_group("g711_20ms");
    group.throughput(Throughput::Elements(FRAME as u64));
    for (law, name) in [(Law::Ulaw, "ulaw"), (Law::Alaw, "alaw")] {
        let mut codes = [0u8; FRAME];
        group.bench_function(format!("{name}_encode"), |b| {
            b.iter(|| law.encode(black_box(&pcm), &mut codes))
        });
        law.encode(&pcm, &mut codes);
        let mut out = [0i16; FRAME];
        group.bench_function(format!("{name}_decode"), |b| {
            b.iter(|| law.decode(black_box(&codes), &mut out))
        });
    }
    group.finish();
}

fn rtp(c: &mut Criterion) {
    let payload = [0xFFu8; FRAME];
    let builder = RtpBuilder {
        marker: false,
        payload_type: 0,
        sequence: 4711,
        timestamp: 4711 * 160,
        ssrc: 0x5EED_0001,
        payload: &payload,
        ..Default::default()
    };
    let mut buf = [0u8; 1500];
    let n = builder.write_to(&mut buf).unwrap();
    let packet = buf[..n].to_vec();
    let mut group = c.benchmark_group("rtp");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse", |b| {
        b.iter(|| RtpPacket::parse(black_box(&packet)).map(|p| p.payload.len()))
    });
    group.bench_function("build", |b| {
        b.iter(|| black_box(&builder).write_to(&mut buf))
    });
    group.finish();
}

criterion_group!(benches, g711, rtp);
criterion_main!(benches);
