#![no_main]
//! Any datagram: compound parsing must not panic, and every packet of a
//! valid compound must be readable to the end.

use kuulo_media::rtcp::{RtcpCompound, RtcpPacket, RtcpWriter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(c) = RtcpCompound::parse(data) else {
        return;
    };
    let mut out = [0u8; 1500];
    let mut w = RtcpWriter::new(&mut out);
    for p in c.packets() {
        match p {
            RtcpPacket::SenderReport { ssrc, info, blocks } => {
                let blocks: Vec<_> = blocks.iter().collect();
                let _ = w.sender_report(ssrc, &info, &blocks);
            }
            RtcpPacket::ReceiverReport { ssrc, blocks } => {
                let blocks: Vec<_> = blocks.iter().collect();
                let _ = w.receiver_report(ssrc, &blocks);
            }
            RtcpPacket::Bye { sources, reason } => {
                let sources: Vec<u32> = sources.iter().collect();
                let reason = reason.and_then(|r| std::str::from_utf8(r).ok());
                let _ = w.bye(&sources, reason);
            }
            RtcpPacket::Other { .. } => {}
        }
    }
    let n = w.len();
    if n > 0 {
        RtcpCompound::parse(&out[..n]).expect("what we write parses");
    }
});
