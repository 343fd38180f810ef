//! RTP parse/build and sequence unwrapping.

use bytes::Bytes;
use kuulo_media::rtp::{ExtendedSeq, RtpBuilder, RtpError, RtpExtension, RtpPacket};
use proptest::prelude::*;

/// A PCMU packet as a phone sends it: marker, PT 0, seq 0x1234, 160 bytes.
fn pcmu_packet() -> Vec<u8> {
    let mut p = vec![
        0x80, 0x80, 0x12, 0x34, 0, 0, 0x0A, 0, 0xDE, 0xAD, 0xBE, 0xEF,
    ];
    p.extend(std::iter::repeat_n(0xFF, 160));
    p
}

#[test]
fn parses_a_plain_packet() {
    let buf = pcmu_packet();
    let p = RtpPacket::parse(&buf).unwrap();
    assert!(p.marker);
    assert_eq!(p.payload_type, 0);
    assert_eq!(p.sequence, 0x1234);
    assert_eq!(p.timestamp, 0x0A00);
    assert_eq!(p.ssrc, 0xDEADBEEF);
    assert_eq!(p.csrc_count(), 0);
    assert_eq!(p.extension, None);
    assert_eq!(p.payload.len(), 160);
    assert_eq!(p.padding, 0);
}

#[test]
fn parses_csrc_extension_and_padding() {
    let buf = [
        0xB2, 0x65, 0x00, 0x01, // V=2 P X CC=2, PT 101
        0, 0, 0, 160, 0, 0, 0, 1, // ts, ssrc
        0, 0, 0, 2, 0, 0, 0, 3, // csrcs
        0xBE, 0xDE, 0, 1, 0x10, 0xAA, 0, 0, // one-word extension
        0x05, 0x8A, 0x00, 0xA0, // DTMF 5, end, volume 10, duration 160
        0, 0, 0, 4, // 4 bytes of padding
    ];
    let p = RtpPacket::parse(&buf).unwrap();
    assert_eq!(p.payload_type, 101);
    assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![2, 3]);
    let ext = p.extension.unwrap();
    assert_eq!(ext.profile, 0xBEDE);
    assert_eq!(ext.data, &[0x10, 0xAA, 0, 0]);
    assert_eq!(p.payload, &[0x05, 0x8A, 0x00, 0xA0]);
    assert_eq!(p.padding, 4);
}

#[test]
fn rejects_bad_packets() {
    let good = pcmu_packet();
    let mut v1 = good.clone();
    v1[0] = 0x40;
    let mut csrc = good[..12].to_vec();
    csrc[0] = 0x8F;
    let mut ext_hdr = good[..12].to_vec();
    ext_hdr[0] = 0x90;
    ext_hdr.extend([0xBE, 0xDE]);
    let mut ext_data = good[..12].to_vec();
    ext_data[0] = 0x90;
    ext_data.extend([0xBE, 0xDE, 0x00, 0x02, 1, 2, 3, 4]);
    let mut pad_zero = good.clone();
    pad_zero[0] = 0xA0;
    *pad_zero.last_mut().unwrap() = 0;
    let mut pad_big = good.clone();
    pad_big[0] = 0xA0;
    *pad_big.last_mut().unwrap() = 161;
    let mut pad_only_header = good[..12].to_vec();
    pad_only_header[0] = 0xA0;
    let cases: Vec<(&str, Vec<u8>, RtpError)> = vec![
        ("empty", vec![], RtpError::TooShort { len: 0 }),
        (
            "11 bytes",
            good[..11].to_vec(),
            RtpError::TooShort { len: 11 },
        ),
        ("version 1", v1, RtpError::BadVersion(1)),
        ("version 0 (STUN)", vec![0; 20], RtpError::BadVersion(0)),
        (
            "15 CSRCs missing",
            csrc,
            RtpError::CsrcTruncated {
                count: 15,
                needed: 72,
                len: 12,
            },
        ),
        (
            "half an extension header",
            ext_hdr,
            RtpError::ExtensionTruncated {
                needed: 16,
                len: 14,
            },
        ),
        (
            "extension data short",
            ext_data,
            RtpError::ExtensionTruncated {
                needed: 24,
                len: 20,
            },
        ),
        (
            "padding count 0",
            pad_zero,
            RtpError::BadPadding {
                count: 0,
                available: 160,
            },
        ),
        (
            "padding past header",
            pad_big,
            RtpError::BadPadding {
                count: 161,
                available: 160,
            },
        ),
        (
            "padding bit, no body",
            pad_only_header,
            RtpError::BadPadding {
                count: 0xEF,
                available: 0,
            },
        ),
    ];
    for (name, buf, want) in cases {
        let got = RtpPacket::parse(&buf);
        assert_eq!(got, Err(want), "{name}");
        // Messages must say what was wrong, not just "invalid".
        assert!(want.to_string().len() > 20, "{name}: {want}");
    }
}

#[test]
fn builder_rejects_what_cannot_be_encoded() {
    let mut buf = [0u8; 64];
    let csrc = [0u32; 16];
    let cases: Vec<(RtpBuilder<'_>, RtpError)> = vec![
        (
            RtpBuilder {
                payload_type: 128,
                ..Default::default()
            },
            RtpError::BadPayloadType(128),
        ),
        (
            RtpBuilder {
                csrc: &csrc,
                ..Default::default()
            },
            RtpError::TooManyCsrcs(16),
        ),
        (
            RtpBuilder {
                extension: Some(RtpExtension {
                    profile: 1,
                    data: &[1, 2, 3],
                }),
                ..Default::default()
            },
            RtpError::BadExtensionLength(3),
        ),
        (
            RtpBuilder {
                payload: &[0; 60],
                ..Default::default()
            },
            RtpError::BufferTooSmall { need: 72, have: 64 },
        ),
    ];
    for (b, want) in cases {
        assert_eq!(b.write_to(&mut buf), Err(want));
    }
}

#[test]
fn payload_bytes_is_zero_copy() {
    let datagram = Bytes::from(pcmu_packet());
    let p = RtpPacket::parse(&datagram).unwrap();
    let payload = p.payload_bytes(&datagram);
    assert_eq!(payload.len(), 160);
    assert_eq!(payload.as_ptr(), datagram[12..].as_ptr());
    // A foreign buffer yields nothing rather than a panic.
    assert!(p.payload_bytes(&Bytes::from_static(b"other")).is_empty());
}

#[test]
fn extended_seq_wraps_and_reorders() {
    let mut s = ExtendedSeq::new();
    assert_eq!(s.peek(5), None);
    let first = s.update(7, 65534).unwrap();
    assert_eq!(
        (first.seq, first.is_newest, first.ssrc_changed),
        (65534, true, false)
    );
    assert_eq!(s.update(7, 65535).unwrap().seq, 65535);
    let wrapped = s.update(7, 0).unwrap();
    assert_eq!((wrapped.seq, wrapped.is_newest), (65536, true));
    assert_eq!(s.update(7, 2).unwrap().seq, 65538);
    // A late packet from before the wrap lands before it.
    let late = s.update(7, 65535).unwrap();
    assert_eq!((late.seq, late.is_newest), (65535, false));
    assert_eq!(s.update(7, 1).unwrap().seq, 65537);
    assert_eq!(s.highest(), Some((7, 65538)));
    // Many more wraps.
    let mut seq = 2u16;
    for _ in 0..(3 * 65536 / 1000) {
        seq = seq.wrapping_add(1000);
        s.update(7, seq).unwrap();
    }
    assert_eq!(s.highest().unwrap().1 % 65536, u64::from(seq));
    assert!(s.highest().unwrap().1 > 3 * 65536);
}

#[test]
fn extended_seq_detects_ssrc_change_and_early_packets() {
    let mut s = ExtendedSeq::new();
    s.update(1, 10).unwrap();
    // Before the very first packet of the source: cannot be numbered.
    assert_eq!(s.update(1, 65000), None);
    let changed = s.update(2, 5000).unwrap();
    assert!(changed.ssrc_changed);
    assert_eq!(changed.seq, 5000);
    assert!(!s.update(2, 5001).unwrap().ssrc_changed);
    s.reset();
    assert!(!s.update(3, 1).unwrap().ssrc_changed);
}

/// marker, PT, seq, ts, SSRC, CSRCs, extension, payload, padding.
type PacketParts = (
    bool,
    u8,
    u16,
    u32,
    u32,
    Vec<u32>,
    Option<(u16, Vec<u8>)>,
    Vec<u8>,
    u8,
);

fn packet_strategy() -> impl Strategy<Value = PacketParts> {
    (
        any::<bool>(),
        0u8..128,
        any::<u16>(),
        any::<u32>(),
        any::<u32>(),
        prop::collection::vec(any::<u32>(), 0..=15),
        prop::option::of((
            any::<u16>(),
            prop::collection::vec(any::<[u8; 4]>(), 0..8).prop_map(|w| w.concat()),
        )),
        prop::collection::vec(any::<u8>(), 0..400),
        any::<u8>(),
    )
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(buf in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(p) = RtpPacket::parse(&buf) {
            let _ = p.csrcs().count();
            prop_assert!(p.payload.len() <= buf.len());
        }
    }

    #[test]
    fn build_then_parse_round_trips((marker, pt, seq, ts, ssrc, csrc, ext, payload, padding) in packet_strategy()) {
        let b = RtpBuilder {
            marker,
            payload_type: pt,
            sequence: seq,
            timestamp: ts,
            ssrc,
            csrc: &csrc,
            extension: ext.as_ref().map(|(profile, data)| RtpExtension { profile: *profile, data }),
            payload: &payload,
            padding,
        };
        let mut buf = vec![0u8; 1500];
        let n = b.write_to(&mut buf).unwrap();
        prop_assert_eq!(n, b.len());
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        prop_assert_eq!(p.marker, marker);
        prop_assert_eq!(p.payload_type, pt);
        prop_assert_eq!(p.sequence, seq);
        prop_assert_eq!(p.timestamp, ts);
        prop_assert_eq!(p.ssrc, ssrc);
        prop_assert_eq!(p.csrcs().collect::<Vec<_>>(), csrc.clone());
        prop_assert_eq!(p.extension, b.extension);
        prop_assert_eq!(p.payload, &payload[..]);
        prop_assert_eq!(p.padding, padding);
    }

    #[test]
    fn extended_seq_is_monotonic_under_small_reorder(start in any::<u16>(), steps in prop::collection::vec(-50i32..200, 1..500)) {
        let mut s = ExtendedSeq::new();
        s.update(9, start).unwrap();
        let mut truth = i64::from(start);
        for d in steps {
            truth += i64::from(d);
            if truth < i64::from(start) {
                truth = i64::from(start);
                continue;
            }
            let got = s.update(9, (truth & 0xFFFF) as u16).unwrap();
            prop_assert_eq!(got.seq as i64, truth);
        }
    }
}
