//! Model check of the jitter buffer's slot protocol with loom.
//!
//! Run with:
//! `RUSTFLAGS="--cfg loom" cargo test -p kuulo-media --release --test jitter_loom`
//! (a separate `CARGO_TARGET_DIR` avoids rebuilding the normal profile).
#![cfg(loom)]

use std::time::Instant;

use kuulo_media::jitter::{JitterBuffer, JitterConfig, NoSilence, Playout, PushOutcome};

fn config() -> JitterConfig {
    // Two slots, so pushes wrap and evict while the consumer reads.
    JitterConfig {
        capacity: 2,
        max_payload: 160,
        min_delay_frames: 1,
        max_delay_frames: 1,
        ..JitterConfig::default()
    }
}

#[test]
fn concurrent_push_and_pop_never_tear_or_repeat() {
    let t0 = Instant::now();
    // A preemption bound keeps the search to seconds; races in this
    // protocol need at most two preemptions to show.
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(3);
    model.check(move || {
        let (mut p, mut c) = JitterBuffer::new(config()).unwrap();
        let producer = loom::thread::spawn(move || {
            let mut accepted = 0u32;
            for seq in 0..3u16 {
                let data = [seq as u8; 160];
                if p.push(t0, 1, seq, u32::from(seq) * 160, &data) == PushOutcome::Accepted {
                    accepted += 1;
                }
            }
            accepted
        });
        let mut played = Vec::new();
        for _ in 0..3 {
            if let Playout::Frame { seq, payload, .. } = c.pop(&mut NoSilence) {
                // A torn read would mix bytes of two packets.
                assert!(payload.iter().all(|&b| b == seq as u8), "torn frame {seq}");
                played.push(seq);
            }
        }
        let accepted = producer.join().unwrap();
        assert!(played.windows(2).all(|w| w[0] < w[1]), "order {played:?}");
        assert!(played.len() as u32 <= accepted);
    });
}
