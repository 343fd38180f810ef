#![no_main]
//! Any SIP body: parsing must not panic; what parses must serialize to
//! text that parses to the same description, and offer/answer on it must
//! give an answer or a typed error.

use kuulo_media::sdp::{answer_offer, MediaConfig, SessionDescription};
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr};

fuzz_target!(|data: &[u8]| {
    let Ok(sdp) = SessionDescription::parse(data) else {
        return;
    };
    let text = sdp.to_string();
    let again: SessionDescription = text.parse().expect("serialized SDP parses");
    assert_eq!(again.to_string(), text);
    let cfg = MediaConfig::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 40000);
    if let Ok((answer, _)) = answer_offer(&sdp, &cfg) {
        let _: SessionDescription = answer.to_string().parse().expect("our answer parses");
    }
});
