//! Hot-path micro-benches: G.711 and Opus on one 20 ms frame and RTP
//! parse/build.
//!
//! Run with `cargo bench -p kuulo-media --bench media`; figures go in
//! docs/benchmarks.md.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use kuulo_media::g711::Law;
use kuulo_media::opus::{OpusDecoder, OpusEncoder, DEFAULT_BITRATE, MAX_FRAME_BYTES};
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

/// Speech-like audio at `rate`, 20 ms of it.
fn speech_like_frame_at(rate: u32) -> Vec<i16> {
    (0..rate as usize / 50)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            let v = 9000.0 * (2.0 * std::f64::consts::PI * 300.0 * t).sin()
                + 4000.0 * (2.0 * std::f64::consts::PI * 1700.0 * t).sin();
            v as i16
        })
        .collect()
}

/// Opus at 24 kbit/s: encoding a 48 kHz frame (what a prompt costs once
/// per frame at load time, and a tone frame at 8 kHz per call), and
/// decoding to 8 kHz (every received frame of an Opus call) or 48 kHz.
fn opus(c: &mut Criterion) {
    let mut group = c.benchmark_group("opus_20ms");
    group.throughput(Throughput::Elements(1));
    let mut packet = [0u8; MAX_FRAME_BYTES];
    let mut len = 0;
    for rate in [48000u32, 8000] {
        let pcm = speech_like_frame_at(rate);
        let mut encoder = OpusEncoder::new(rate, DEFAULT_BITRATE).unwrap();
        group.bench_function(format!("encode_{}k", rate / 1000), |b| {
            b.iter(|| encoder.encode(black_box(&pcm), &mut packet).unwrap())
        });
        if rate == 48000 {
            len = encoder.encode(&pcm, &mut packet).unwrap();
        }
    }
    for rate in [8000u32, 48000] {
        let mut decoder = OpusDecoder::new(rate).unwrap();
        let mut out = vec![0i16; rate as usize / 50];
        group.bench_function(format!("decode_{}k", rate / 1000), |b| {
            b.iter(|| decoder.decode(black_box(&packet[..len]), &mut out).unwrap())
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

criterion_group!(benches, g711, opus, rtp);
criterion_main!(benches);
