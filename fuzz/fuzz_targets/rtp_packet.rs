#![no_main]
//! Any datagram: parse must not panic, and a packet that parses must
//! rebuild to the same bytes apart from padding contents.

use kuulo_media::rtp::{ExtendedSeq, RtpBuilder, RtpPacket};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = RtpPacket::parse(data) else {
        return;
    };
    let csrc: Vec<u32> = p.csrcs().collect();
    let b = RtpBuilder {
        marker: p.marker,
        payload_type: p.payload_type,
        sequence: p.sequence,
        timestamp: p.timestamp,
        ssrc: p.ssrc,
        csrc: &csrc,
        extension: p.extension,
        payload: p.payload,
        padding: p.padding,
    };
    let mut out = vec![0u8; data.len()];
    let n = b.write_to(&mut out).expect("a parsed packet rebuilds");
    assert_eq!(n, data.len());
    let again = RtpPacket::parse(&out).expect("a rebuilt packet parses");
    assert_eq!(again.payload, p.payload);
    let mut seq = ExtendedSeq::new();
    let _ = seq.update(p.ssrc, p.sequence);
    let _ = seq.update(p.ssrc, p.sequence.wrapping_add(1));
});
