#![no_main]
//! Arbitrary packet streams into the jitter buffer's producer, with pops in
//! between: nothing may panic, and frames come out whole and within the
//! configured size.

use std::time::{Duration, Instant};

use kuulo_media::jitter::{JitterBuffer, JitterConfig, Playout};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let config = JitterConfig {
        capacity: 16,
        max_delay_frames: 8,
        min_delay_frames: 1,
        ..JitterConfig::default()
    };
    let max_payload = config.max_payload;
    let Ok((mut p, mut c)) = JitterBuffer::new(config) else {
        return;
    };
    let t0 = Instant::now();
    let mut us = 0u64;
    let payload = [0x55u8; 512];
    // Records of 8 bytes: op, ssrc pick, seq (2), timestamp step (2), length, time step.
    let mut ts = 0u32;
    for r in data.chunks_exact(8) {
        us += u64::from(r[7]) * 200;
        let now = t0 + Duration::from_micros(us);
        if r[0] & 1 == 0 {
            ts = ts.wrapping_add(u32::from(u16::from_be_bytes([r[4], r[5]])));
            let seq = u16::from_be_bytes([r[2], r[3]]);
            let len = usize::from(r[6]) * 2;
            p.push(now, u32::from(r[1] & 1), seq, ts, &payload[..len]);
        } else {
            let silent = r[0] & 2 == 2;
            match c.pop(&mut |_: &[u8]| silent) {
                Playout::Frame { payload, .. } => {
                    assert!(payload.len() <= max_payload);
                    assert!(payload.iter().all(|&b| b == 0x55));
                }
                Playout::Concealment { .. } | Playout::Empty => {}
            }
        }
    }
    let s = c.stats();
    assert!(s.accepted <= s.received);
});
