//! Replays the fuzz seed corpus (fuzz/corpus/<target>/) so the seeds stay
//! valid inputs as the parsers change: each is a real-looking packet or SDP
//! that must parse and survive a rebuild.

use kuulo_media::rtcp::RtcpCompound;
use kuulo_media::rtp::{RtpBuilder, RtpPacket};
use kuulo_media::sdp::SessionDescription;
use std::path::PathBuf;

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!("skipped: no corpus at {}", dir.display());
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn rtp_seeds_parse_and_rebuild() {
    for (name, data) in seeds("rtp_packet") {
        let p = RtpPacket::parse(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
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
        assert_eq!(b.write_to(&mut out), Ok(data.len()), "{name}");
        assert_eq!(out, data, "{name}");
    }
}

#[test]
fn rtcp_seeds_parse() {
    for (name, data) in seeds("rtcp_packet") {
        let c = RtcpCompound::parse(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(c.packets().count() > 0, "{name}");
    }
}

#[test]
fn sdp_seeds_parse_and_reserialize() {
    for (name, data) in seeds("sdp") {
        let sdp = SessionDescription::parse(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(sdp.to_string().as_bytes(), &data[..], "{name}");
    }
}
