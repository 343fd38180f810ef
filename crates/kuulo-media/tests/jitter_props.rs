//! Jitter buffer invariants under random networks, and replay of seeded
//! jitter/loss traces.
#![cfg(not(loom))]

use std::time::{Duration, Instant};

use kuulo_media::jitter::{
    G711Silence, JitterBuffer, JitterConfig, JitterStats, NoSilence, Playout, PushOutcome,
};
use proptest::prelude::*;

/// One packet as the network delivers it.
#[derive(Debug, Clone, Copy)]
struct Arrival {
    at_us: u64,
    seq: u16,
}

/// What a run saw: pushes with their outcome, and the seqs played in order.
struct Run {
    pushes: Vec<(u16, PushOutcome)>,
    played: Vec<u16>,
    stats: JitterStats,
}

/// Delivers `arrivals` (sorted by time) and pops every 20 ms until `end_us`.
fn run(config: JitterConfig, arrivals: &[Arrival], end_us: u64, silence: bool) -> Run {
    let (mut p, mut c) = JitterBuffer::new(config).unwrap();
    let t0 = Instant::now();
    let mut det = G711Silence {
        a_law: false,
        threshold: 200,
    };
    let mut out = Run {
        pushes: Vec::new(),
        played: Vec::new(),
        stats: JitterStats::default(),
    };
    let mut next = 0;
    let mut tick_us = 0;
    while tick_us <= end_us {
        while next < arrivals.len() && arrivals[next].at_us <= tick_us {
            let a = arrivals[next];
            let mut data = [0xFFu8; 160];
            // Talk spurts of one second, so silence-aware runs can adapt.
            if (a.seq / 50) % 2 == 0 {
                data[4..].fill(0x20);
            }
            data[..4].copy_from_slice(&tag(a.seq));
            let now = t0 + Duration::from_micros(a.at_us);
            let r = p.push(now, 7, a.seq, u32::from(a.seq) * 160, &data);
            out.pushes.push((a.seq, r));
            next += 1;
        }
        let frame = if silence {
            c.pop(&mut det)
        } else {
            c.pop(&mut NoSilence)
        };
        if let Playout::Frame { seq, payload, .. } = frame {
            assert_eq!(&payload[..4], &tag(seq));
            out.played.push(seq);
        }
        tick_us += 20_000;
    }
    out.stats = c.stats();
    out
}

/// The sequence number as four quiet mu-law bytes, so tagging a payload
/// does not make a silent frame loud.
fn tag(seq: u16) -> [u8; 4] {
    [12, 8, 4, 0].map(|shift| 0xF0 | ((seq >> shift) & 0xF) as u8)
}

fn arrivals(delays_ms: &[(u8, bool, bool)]) -> Vec<Arrival> {
    let mut v = Vec::new();
    for (i, &(delay, lost, dup)) in delays_ms.iter().enumerate() {
        let seq = i as u16;
        let at_us = i as u64 * 20_000 + u64::from(delay) * 1000 + 1;
        if !lost {
            v.push(Arrival { at_us, seq });
        }
        if dup && !lost {
            v.push(Arrival {
                at_us: at_us + 3_000,
                seq,
            });
        }
    }
    v.sort_by_key(|a| a.at_us);
    v
}

fn check_invariants(r: &Run) {
    // Order kept and nothing played twice (no wrap in these runs).
    for w in r.played.windows(2) {
        assert!(w[0] < w[1], "played {} then {}", w[0], w[1]);
    }
    // Every accepted packet at or before the last played one was played.
    let Some(&last) = r.played.last() else {
        return;
    };
    let played: std::collections::HashSet<u16> = r.played.iter().copied().collect();
    // ...unless it was dropped in silence to shrink the delay.
    let missing = r
        .pushes
        .iter()
        .filter(|&&(seq, o)| o == PushOutcome::Accepted && seq <= last && !played.contains(&seq))
        .count() as u64;
    assert_eq!(missing, r.stats.dropped, "accepted frames never played");
    assert_eq!(r.stats.evicted, 0);
    assert_eq!(r.stats.skipped, 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn invariants_hold_on_random_networks(
        delays in proptest::collection::vec((0u8..120, proptest::bool::weighted(0.05), proptest::bool::weighted(0.05)), 1..400),
        min in 1u32..4,
    ) {
        let config = JitterConfig { min_delay_frames: min, max_delay_frames: 16, capacity: 32, ..JitterConfig::default() };
        let a = arrivals(&delays);
        let end = delays.len() as u64 * 20_000 + 400_000;
        let r = run(config, &a, end, false);
        check_invariants(&r);
        // Duplicates are never played and always counted.
        let dups = delays.iter().filter(|d| d.2 && !d.1).count() as u64;
        prop_assert_eq!(r.stats.duplicates, dups);
    }
}

/// A small deterministic PRNG (xorshift64*), so traces replay bit for bit.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A minute of packets over a link with Gilbert-Elliott loss and a delay of
/// `base_ms` plus an exponential tail of mean `tail_ms`, with rare spikes.
fn trace(seed: u64, base_ms: f64, tail_ms: f64) -> (Vec<Arrival>, u64) {
    let mut rng = Rng(seed);
    let mut bad = false;
    let mut lost = 0;
    let mut v = Vec::new();
    for i in 0..3000u64 {
        bad = if bad {
            rng.unit() > 0.3
        } else {
            rng.unit() < 0.01
        };
        if bad && rng.unit() < 0.7 {
            lost += 1;
            continue;
        }
        let mut delay = base_ms - tail_ms * (1.0 - rng.unit()).ln();
        if rng.unit() < 0.002 {
            delay += 150.0;
        }
        let at_us = i * 20_000 + (delay * 1000.0) as u64;
        v.push(Arrival {
            at_us,
            seq: i as u16,
        });
    }
    v.sort_by_key(|a| a.at_us);
    (v, lost)
}

#[test]
fn replay_of_jitter_and_loss_traces() {
    for (seed, base, tail) in [(1, 20.0, 2.0), (2, 40.0, 10.0), (3, 30.0, 25.0)] {
        let (a, lost) = trace(seed, base, tail);
        let r = run(JitterConfig::default(), &a, 3000 * 20_000 + 1_000_000, true);
        check_invariants(&r);
        let s = r.stats;
        println!(
            "trace {seed}: lost {lost}, late {}, concealed {}, inserted {}, dropped {}, underruns {}, jitter {} ({:.1} ms), final target {} frames",
            s.late, s.concealed, s.inserted, s.dropped, s.underruns, s.jitter,
            s.jitter as f64 / 8.0, s.target_frames
        );
        assert_eq!(s.received, 3000 - lost);
        // Late packets stay a small share once the delay has adapted.
        assert!(s.late * 100 <= s.received * 2, "trace {seed}: {s:?}");
        // The stream drains: every stored frame was played or dropped in silence.
        assert_eq!(s.played + s.dropped, s.accepted, "trace {seed}: {s:?}");
    }
}
