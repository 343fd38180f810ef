//! DSP micro-benches: the in-band DTMF detector per 20 ms frame and the
//! jitter buffer per packet (push + pop). Figures go to docs/benchmarks.md.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kuulo_media::goertzel::{DetectorConfig, DtmfDetector};
use kuulo_media::jitter::{G711Silence, JitterBuffer, JitterConfig};

/// 20 ms of a 697+1209 Hz tone pair, the detector's busiest path.
fn tone_frame() -> [i16; 160] {
    let mut f = [0i16; 160];
    for (i, s) in f.iter_mut().enumerate() {
        let t = i as f32 / 8000.0;
        let w = |hz: f32| (2.0 * std::f32::consts::PI * hz * t).sin();
        *s = (6000.0 * (w(697.0) + w(1209.0))) as i16;
    }
    f
}

fn goertzel(c: &mut Criterion) {
    let mut g = c.benchmark_group("goertzel");
    g.throughput(Throughput::Elements(1));
    let tone = tone_frame();
    let mut det = DtmfDetector::new(DetectorConfig::default());
    g.bench_function("detect_20ms_tone", |b| {
        b.iter(|| {
            det.process(black_box(&tone), |d| {
                black_box(d);
            })
        })
    });
    // A voiced sound (two low partials at speaking level): what the
    // detector sees through most of a call.
    let voice: Vec<i16> = (0..160)
        .map(|n| {
            let t = n as f32 / 8000.0;
            let x = (2.0 * std::f32::consts::PI * 180.0 * t).sin() * 3000.0
                + (2.0 * std::f32::consts::PI * 540.0 * t).sin() * 1500.0;
            x as i16
        })
        .collect();
    let mut det = DtmfDetector::new(DetectorConfig::default());
    g.bench_function("detect_20ms_voice", |b| {
        b.iter(|| {
            det.process(black_box(&voice), |d| {
                black_box(d);
            })
        })
    });
    // Digital silence, which trunks send between words: skipped.
    let silence = [0i16; 160];
    let mut det = DtmfDetector::new(DetectorConfig::default());
    g.bench_function("detect_20ms_silence", |b| {
        b.iter(|| {
            det.process(black_box(&silence), |d| {
                black_box(d);
            })
        })
    });
    g.finish();
}

fn jitter(c: &mut Criterion) {
    let mut g = c.benchmark_group("jitter");
    g.throughput(Throughput::Elements(1));
    let (mut p, mut cons) = JitterBuffer::new(JitterConfig::default()).unwrap();
    let mut det = G711Silence {
        a_law: false,
        threshold: 200,
    };
    let payload = [0xFFu8; 160];
    let t0 = Instant::now();
    let mut n = 0u64;
    // Prime to the target delay so every pop plays a frame.
    for _ in 0..2 {
        p.push(t0, 1, n as u16, n as u32 * 160, &payload);
        n += 1;
    }
    g.bench_function("push_pop_per_packet", |b| {
        b.iter(|| {
            let now = t0 + Duration::from_millis(n * 20);
            let ts = (n as u32).wrapping_mul(160);
            black_box(p.push(now, 1, n as u16, ts, black_box(&payload)));
            n += 1;
            black_box(cons.pop(&mut det));
        })
    });
    g.finish();
}

criterion_group!(benches, goertzel, jitter);
criterion_main!(benches);
