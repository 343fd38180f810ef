#![no_main]
//! Any bytes as an RFC 4733 payload: parsing must not panic, what parses
//! must rebuild to the same bytes (less the reserved bit), and the receiver
//! must survive any packet stream cut from the input.

use std::time::{Duration, Instant};

use kuulo_media::dtmf::{DtmfReceiver, DtmfReceiverConfig, TelephoneEvent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ev) = TelephoneEvent::parse(data) {
        let mut want = [0u8; 4];
        want.copy_from_slice(data);
        want[1] &= !0x40;
        assert_eq!(ev.to_bytes(), want);
    }
    // Records of 9 bytes: timestamp step, marker, seq step, time step, payload.
    let t0 = Instant::now();
    let mut rx = DtmfReceiver::new(DtmfReceiverConfig::default());
    let (mut ts, mut seq, mut ms) = (0u32, 0u16, 0u64);
    for r in data.chunks_exact(9) {
        ts = ts.wrapping_add(u32::from(u16::from_be_bytes([r[0], r[1]])));
        seq = seq.wrapping_add(u16::from(r[3] & 3));
        ms += u64::from(r[4]);
        let now = t0 + Duration::from_millis(ms);
        let _ = rx.handle_packet(now, ts, r[2] & 1 == 1, seq, &r[5..9]);
        while let Some(d) = rx.poll_digit() {
            assert!("0123456789*#ABCD".contains(d.digit));
        }
    }
    rx.handle_timeout(t0 + Duration::from_millis(ms + 10_000));
    assert!(rx.poll_timeout().is_none());
});
