//! Behaviour of the jitter buffer, one case per test, in virtual time.
#![cfg(not(loom))]

use std::time::{Duration, Instant};

use kuulo_media::jitter::{
    G711Silence, JitterBuffer, JitterConfig, JitterConfigError, JitterConsumer, JitterProducer,
    NoSilence, Playout, PushOutcome,
};

const SSRC: u32 = 0x1234_5678;

/// A producer/consumer pair in virtual time; payloads carry their sequence
/// number so every played frame can be checked.
struct Sim {
    p: JitterProducer,
    c: JitterConsumer,
    t0: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Got {
    Frame(u16),
    Lost,
    Inserted,
    Empty,
}

impl Sim {
    fn new(config: JitterConfig) -> Self {
        let (p, c) = JitterBuffer::new(config).expect("valid config");
        Self {
            p,
            c,
            t0: Instant::now(),
        }
    }

    fn with_min(min: u32) -> Self {
        Self::new(JitterConfig {
            min_delay_frames: min,
            ..JitterConfig::default()
        })
    }

    /// Pushes `seq` with its nominal timestamp, arriving at `at_ms`.
    fn push_at(&mut self, at_ms: u64, seq: u16) -> PushOutcome {
        let ts = u32::from(seq).wrapping_mul(160);
        self.push_full(at_ms, SSRC, seq, ts, &payload(seq))
    }

    fn push(&mut self, seq: u16) -> PushOutcome {
        self.push_at(u64::from(seq) * 20, seq)
    }

    fn push_full(&mut self, at_ms: u64, ssrc: u32, seq: u16, ts: u32, data: &[u8]) -> PushOutcome {
        let now = self.t0 + Duration::from_millis(at_ms);
        self.p.push(now, ssrc, seq, ts, data)
    }

    fn pop(&mut self) -> Got {
        got(self.c.pop(&mut NoSilence))
    }
}

fn payload(seq: u16) -> [u8; 160] {
    let mut p = [0u8; 160];
    p[..2].copy_from_slice(&seq.to_be_bytes());
    p
}

fn got(p: Playout<'_>) -> Got {
    match p {
        Playout::Frame { seq, payload, .. } => {
            assert_eq!(&payload[..2], &seq.to_be_bytes(), "payload belongs to seq");
            Got::Frame(seq)
        }
        Playout::Concealment { lost: true } => Got::Lost,
        Playout::Concealment { lost: false } => Got::Inserted,
        Playout::Empty => Got::Empty,
    }
}

#[test]
fn both_halves_are_send() {
    fn is_send<T: Send>() {}
    is_send::<JitterProducer>();
    is_send::<JitterConsumer>();
}

#[test]
fn config_is_validated() {
    let bad = |c: JitterConfig| JitterBuffer::new(c).err();
    let d = JitterConfig::default();
    assert!(matches!(
        bad(JitterConfig {
            capacity: 48,
            ..d.clone()
        }),
        Some(JitterConfigError::Capacity { .. })
    ));
    assert!(matches!(
        bad(JitterConfig {
            capacity: 16,
            max_delay_frames: 20,
            ..d.clone()
        }),
        Some(JitterConfigError::Capacity { .. })
    ));
    assert_eq!(
        bad(JitterConfig {
            max_payload: 2000,
            ..d.clone()
        }),
        Some(JitterConfigError::MaxPayload(2000))
    );
    assert!(matches!(
        bad(JitterConfig {
            min_delay_frames: 5,
            max_delay_frames: 4,
            ..d.clone()
        }),
        Some(JitterConfigError::DelayBounds { .. })
    ));
    assert_eq!(
        bad(JitterConfig {
            frame_samples: 0,
            ..d
        }),
        Some(JitterConfigError::Clock)
    );
}

#[test]
fn buffers_until_target_then_plays_in_order_once() {
    let mut s = Sim::with_min(3);
    assert_eq!(s.pop(), Got::Empty);
    s.push(1);
    assert_eq!(s.pop(), Got::Empty);
    s.push(2);
    assert_eq!(s.pop(), Got::Empty);
    s.push(3);
    let mut out = vec![s.pop()];
    for seq in 4..=10 {
        s.push(seq);
        out.push(s.pop());
    }
    let want: Vec<Got> = (1..=8).map(Got::Frame).collect();
    assert_eq!(out, want);
    assert_eq!(s.c.stats().played, 8);
}

#[test]
fn reordered_packets_play_in_order() {
    let mut s = Sim::with_min(2);
    for seq in [2, 1, 4, 3, 6, 5, 7] {
        assert_eq!(s.push(seq), PushOutcome::Accepted);
    }
    let out: Vec<Got> = (0..7).map(|_| s.pop()).collect();
    assert_eq!(out, (1..=7).map(Got::Frame).collect::<Vec<_>>());
}

#[test]
fn duplicates_are_dropped_and_counted() {
    let mut s = Sim::with_min(2);
    s.push(1);
    assert_eq!(s.push(1), PushOutcome::Duplicate);
    s.push(2);
    assert_eq!(s.pop(), Got::Frame(1));
    // Even after it was played, a copy is a duplicate rather than late.
    assert_eq!(s.push(1), PushOutcome::Duplicate);
    assert_eq!(s.pop(), Got::Frame(2));
    assert_eq!(s.pop(), Got::Empty);
    assert_eq!(s.c.stats().duplicates, 2);
}

#[test]
fn lost_packet_is_concealed_and_late_one_dropped() {
    let mut s = Sim::with_min(2);
    for seq in [1, 2, 4, 5] {
        s.push(seq);
    }
    assert_eq!(s.pop(), Got::Frame(1));
    assert_eq!(s.pop(), Got::Frame(2));
    assert_eq!(s.pop(), Got::Lost);
    assert_eq!(s.push(3), PushOutcome::Late);
    assert_eq!(s.pop(), Got::Frame(4));
    let st = s.c.stats();
    assert_eq!((st.concealed, st.late), (1, 1));
    // A late packet means the delay was too short.
    assert_eq!(st.target_frames, 3);
}

#[test]
fn sequence_wrap_is_seamless() {
    let mut s = Sim::with_min(2);
    let seqs = [65533u16, 65534, 65535, 0, 1, 2];
    for seq in seqs {
        s.push_at(0, seq);
    }
    let out: Vec<Got> = (0..6).map(|_| s.pop()).collect();
    assert_eq!(out, seqs.map(Got::Frame).to_vec());
}

#[test]
fn ssrc_change_continues_without_gap() {
    let mut s = Sim::with_min(2);
    s.push(1);
    s.push(2);
    assert_eq!(s.pop(), Got::Frame(1));
    // A new source with an unrelated sequence and timestamp base.
    for (i, seq) in [40_000u16, 40_001, 40_002].into_iter().enumerate() {
        let r = s.push_full(
            60 + 20 * i as u64,
            99,
            seq,
            7_000_000 + 160 * i as u32,
            &payload(seq),
        );
        assert_eq!(r, PushOutcome::Accepted);
    }
    let out: Vec<Got> = (0..4).map(|_| s.pop()).collect();
    assert_eq!(
        out,
        vec![
            Got::Frame(2),
            Got::Frame(40_000),
            Got::Frame(40_001),
            Got::Frame(40_002)
        ]
    );
    assert_eq!(s.c.stats().resyncs, 1);
}

#[test]
fn sequence_restart_needs_confirmation() {
    let mut s = Sim::with_min(2);
    s.push(10);
    s.push(11);
    // One wild packet is ignored...
    assert_eq!(s.push_at(40, 30_000), PushOutcome::Stray);
    assert_eq!(s.push(12), PushOutcome::Accepted);
    // ...two in a row are a restart, played right after what was buffered.
    assert_eq!(s.push_at(60, 50_000), PushOutcome::Stray);
    assert_eq!(s.push_at(80, 50_001), PushOutcome::Accepted);
    assert_eq!(s.push_at(100, 50_002), PushOutcome::Accepted);
    let out: Vec<Got> = (0..5).map(|_| s.pop()).collect();
    assert_eq!(
        out,
        vec![
            Got::Frame(10),
            Got::Frame(11),
            Got::Frame(12),
            Got::Frame(50_001),
            Got::Frame(50_002)
        ]
    );
    let st = s.c.stats();
    assert_eq!((st.stray, st.resyncs), (2, 1));
}

#[test]
fn timestamp_jump_resets_jitter_reference() {
    let mut s = Sim::with_min(2);
    s.push(1);
    s.push(2);
    s.push_full(60, SSRC, 3, 3 * 160 + 8000 * 60, &payload(3));
    let st = s.c.stats();
    assert_eq!(st.resyncs, 1);
    // Without the reset the jump would read as a minute of jitter.
    assert_eq!(st.jitter, 0);
    assert_eq!(s.pop(), Got::Frame(1));
}

#[test]
fn oversized_payload_is_refused() {
    let mut s = Sim::with_min(2);
    let big = [0u8; 321];
    assert_eq!(s.push_full(0, SSRC, 1, 0, &big), PushOutcome::TooLarge);
    assert_eq!(s.c.stats().too_large, 1);
}

#[test]
fn underrun_rebuffers_and_grows_target() {
    let mut s = Sim::with_min(2);
    s.push(1);
    s.push(2);
    assert_eq!(s.pop(), Got::Frame(1));
    assert_eq!(s.pop(), Got::Frame(2));
    assert_eq!(s.pop(), Got::Empty);
    assert_eq!(s.c.stats().underruns, 1);
    assert_eq!(s.c.target_frames(), 3);
    // Packet 3 was merely delayed: it is not late, it plays after rebuffering.
    for seq in 3..=5 {
        assert_eq!(s.push(seq), PushOutcome::Accepted);
    }
    let out: Vec<Got> = (0..3).map(|_| s.pop()).collect();
    assert_eq!(out, vec![Got::Frame(3), Got::Frame(4), Got::Frame(5)]);
}

#[test]
fn jitter_estimate_follows_rfc3550() {
    let mut s = Sim::with_min(2);
    // Constant transit time: zero jitter.
    for seq in 0..50 {
        s.push_at(u64::from(seq) * 20 + 7, seq);
    }
    assert_eq!(s.c.stats().jitter, 0);
    // Alternating 0/40 ms extra delay: |D| = 320 units each packet, J -> 320.
    let mut s = Sim::with_min(2);
    for seq in 0..400u16 {
        let extra = if seq % 2 == 0 { 0 } else { 40 };
        s.push_at(u64::from(seq) * 20 + extra, seq);
    }
    let j = s.c.stats().jitter;
    assert!((300..=320).contains(&j), "jitter {j}");
    // The target grows at once to cover it: 1 + ceil(3 * 320 / 160) = 7.
    s.pop();
    assert_eq!(s.c.target_frames(), 7);
}

#[test]
fn target_shrinks_slowly_after_jitter_calms() {
    let mut s = Sim::new(JitterConfig {
        min_delay_frames: 2,
        shrink_after_ticks: 50,
        ..JitterConfig::default()
    });
    let mut seq = 0u16;
    for _ in 0..40 {
        let extra = if seq % 2 == 0 { 0 } else { 40 };
        s.push_at(u64::from(seq) * 20 + extra, seq);
        seq += 1;
        s.pop();
    }
    let high = s.c.target_frames();
    assert!(high >= 6, "target {high}");
    let mut targets = Vec::new();
    for _ in 0..1000 {
        s.push_at(u64::from(seq) * 20, seq);
        seq += 1;
        s.pop();
        targets.push(s.c.target_frames());
    }
    // Never more than one frame less per `shrink_after_ticks`.
    for w in targets.windows(50) {
        assert!(w[0] - w[49] <= 1);
    }
    assert_eq!(*targets.last().unwrap(), 2);
}

/// Runs a sender whose clock is `ratio` times ours, with 1 s talk spurts
/// and 1 s pauses; returns the consumer's final stats.
fn drift_run(ratio: f64, silence_aware: bool) -> kuulo_media::jitter::JitterStats {
    let (mut p, mut c) = JitterBuffer::new(JitterConfig::default()).unwrap();
    let t0 = Instant::now();
    let mut det = G711Silence {
        a_law: false,
        threshold: 200,
    };
    let mut next_pkt = 0u32;
    for tick in 0..6000u64 {
        let now_ms = tick as f64 * 20.0;
        while f64::from(next_pkt) * 20.0 / ratio <= now_ms {
            let seq = next_pkt as u16;
            let talking = (next_pkt / 50) % 2 == 0;
            let data = [if talking { 0x20 } else { 0xFF }; 160];
            let at = t0 + Duration::from_micros((f64::from(next_pkt) * 20_000.0 / ratio) as u64);
            p.push(at, SSRC, seq, next_pkt.wrapping_mul(160), &data);
            next_pkt += 1;
        }
        if silence_aware {
            c.pop(&mut det);
        } else {
            c.pop(&mut NoSilence);
        }
    }
    c.stats()
}

#[test]
fn fast_sender_drift_is_absorbed_in_silence() {
    // 1% fast: 60 extra frames in two minutes.
    let st = drift_run(1.01, true);
    assert!(st.dropped >= 50, "{st:?}");
    assert_eq!((st.skipped, st.evicted, st.underruns), (0, 0, 0), "{st:?}");
}

#[test]
fn slow_sender_drift_is_absorbed_in_silence() {
    let st = drift_run(0.99, true);
    assert!(st.inserted >= 50, "{st:?}");
    assert_eq!(st.underruns, 0, "{st:?}");
    // Without a silence detector the only way out is running dry.
    let blind = drift_run(0.99, false);
    assert!(blind.underruns > 0, "{blind:?}");
}

#[test]
fn stalled_consumer_skips_backlog_and_counts_evictions() {
    let mut s = Sim::with_min(2);
    for seq in 0..200 {
        s.push(seq);
    }
    let st = s.c.stats();
    assert!(st.evicted > 0);
    // Playout starts at the oldest frame still held (136) but cuts a backlog
    // beyond twice the maximum delay down to the target.
    assert_eq!(s.pop(), Got::Frame(198));
    assert_eq!(s.pop(), Got::Frame(199));
    assert_eq!(s.c.stats().skipped, 62);
}

#[test]
fn g711_silence_detector_reads_levels() {
    let mut mu = G711Silence {
        a_law: false,
        threshold: 200,
    };
    assert!(mu.is_silence_of(&[0xFF, 0x7F, 0xFE]));
    assert!(!mu.is_silence_of(&[0xFF, 0x00]));
    let mut a = G711Silence {
        a_law: true,
        threshold: 200,
    };
    assert!(a.is_silence_of(&[0xD5, 0x55]));
    assert!(!a.is_silence_of(&[0xD5, 0xAA]));
}

trait SilenceOf {
    fn is_silence_of(&mut self, p: &[u8]) -> bool;
}

impl<S: kuulo_media::jitter::SilenceDetector> SilenceOf for S {
    fn is_silence_of(&mut self, p: &[u8]) -> bool {
        self.is_silence(p)
    }
}
