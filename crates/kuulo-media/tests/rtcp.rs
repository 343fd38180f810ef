//! RTCP parse/build and receiver statistics.

use kuulo_media::rtcp::{
    ntp_timestamp, ReceiverStats, ReportBlock, RtcpCompound, RtcpError, RtcpPacket, RtcpWriter,
    SenderInfo, PT_SDES,
};
use proptest::prelude::*;
use std::time::{Duration, Instant};

fn block(ssrc: u32, lost: i32) -> ReportBlock {
    ReportBlock {
        ssrc,
        fraction_lost: 12,
        cumulative_lost: lost,
        highest_seq: 0x0001_0010,
        jitter: 37,
        last_sr: 0x1234_5678,
        delay_since_last_sr: 65536,
    }
}

fn sample_compound() -> Vec<u8> {
    let mut buf = [0u8; 512];
    let mut w = RtcpWriter::new(&mut buf);
    let info = SenderInfo {
        ntp_timestamp: 0xE5A1_0000_8000_0000,
        rtp_timestamp: 160_000,
        packet_count: 1000,
        octet_count: 160_000,
    };
    w.sender_report(0xAABB_CCDD, &info, &[block(0x1111, 3), block(0x2222, -2)])
        .unwrap();
    w.sdes_cname(0xAABB_CCDD, "kuulo@192.0.2.10").unwrap();
    w.bye(&[0xAABB_CCDD], Some("survey done")).unwrap();
    let n = w.len();
    buf[..n].to_vec()
}

#[test]
fn compound_round_trip() {
    let buf = sample_compound();
    assert_eq!(buf.len() % 4, 0);
    let c = RtcpCompound::parse(&buf).unwrap();
    let packets: Vec<_> = c.packets().collect();
    assert_eq!(packets.len(), 3);
    match packets[0] {
        RtcpPacket::SenderReport { ssrc, info, blocks } => {
            assert_eq!(ssrc, 0xAABB_CCDD);
            assert_eq!(info.packet_count, 1000);
            assert_eq!(info.ntp_timestamp, 0xE5A1_0000_8000_0000);
            let b: Vec<_> = blocks.iter().collect();
            assert_eq!(b, vec![block(0x1111, 3), block(0x2222, -2)]);
        }
        other => panic!("expected SR, got {other:?}"),
    }
    match packets[1] {
        RtcpPacket::Other {
            packet_type,
            count,
            body,
        } => {
            assert_eq!((packet_type, count), (PT_SDES, 1));
            assert_eq!(&body[6..22], b"kuulo@192.0.2.10");
        }
        other => panic!("expected SDES, got {other:?}"),
    }
    match packets[2] {
        RtcpPacket::Bye { sources, reason } => {
            assert_eq!(sources.iter().collect::<Vec<_>>(), vec![0xAABB_CCDD]);
            assert_eq!(reason, Some(&b"survey done"[..]));
        }
        other => panic!("expected BYE, got {other:?}"),
    }
}

#[test]
fn receiver_report_and_empty_bye() {
    let mut buf = [0u8; 100];
    let mut w = RtcpWriter::new(&mut buf);
    w.receiver_report(5, &[]).unwrap();
    w.bye(&[], None).unwrap();
    let n = w.len();
    assert_eq!(n, 8 + 4);
    let c = RtcpCompound::parse(&buf[..n]).unwrap();
    let p: Vec<_> = c.packets().collect();
    assert!(matches!(p[0], RtcpPacket::ReceiverReport { ssrc: 5, blocks } if blocks.is_empty()));
    assert!(matches!(p[1], RtcpPacket::Bye { reason: None, .. }));
}

#[test]
fn writer_refuses_what_does_not_fit() {
    let mut small = [0u8; 20];
    let mut w = RtcpWriter::new(&mut small);
    assert_eq!(
        w.receiver_report(1, &[block(2, 0)]),
        Err(RtcpError::BufferTooSmall { need: 32, have: 20 })
    );
    assert!(w.is_empty());
    let mut buf = [0u8; 2000];
    let mut w = RtcpWriter::new(&mut buf);
    assert_eq!(
        w.receiver_report(1, &[block(2, 0); 32]),
        Err(RtcpError::TooManyItems(32))
    );
    let long = "x".repeat(256);
    assert_eq!(w.bye(&[1], Some(&long)), Err(RtcpError::TextTooLong(256)));
    assert_eq!(w.sdes_cname(1, &long), Err(RtcpError::TextTooLong(256)));
}

#[test]
fn cumulative_loss_is_clamped_to_24_bits() {
    let mut buf = [0u8; 64];
    let mut w = RtcpWriter::new(&mut buf);
    w.receiver_report(1, &[block(2, 10_000_000), block(3, -10_000_000)])
        .unwrap();
    let n = w.len();
    let c = RtcpCompound::parse(&buf[..n]).unwrap();
    let Some(RtcpPacket::ReceiverReport { blocks, .. }) = c.packets().next() else {
        panic!("expected RR")
    };
    let lost: Vec<i32> = blocks.iter().map(|b| b.cumulative_lost).collect();
    assert_eq!(lost, vec![0x7F_FFFF, -0x80_0000]);
}

#[test]
fn rejects_bad_compounds() {
    let good = sample_compound();
    let sr_len = 4 * (usize::from(good[3]) + 1);
    let mut v1 = good.clone();
    v1[0] = (v1[0] & 0x3F) | 0x40;
    let mut long = good.clone();
    long[3] += 1;
    long.truncate(sr_len);
    let mut pad_first = good.clone();
    pad_first[0] |= 0x20;
    let mut too_many_blocks = good[..sr_len].to_vec();
    too_many_blocks[0] = 0x80 | 3;
    let sdes_len = 4 * (usize::from(good[sr_len + 3]) + 1);
    let mut pad_zero = good[sr_len + sdes_len..].to_vec();
    pad_zero[0] |= 0x20;
    let last = pad_zero.len() - 1;
    pad_zero[last] = 0;
    let mut bye_reason = vec![0x81, 203, 0, 2, 0, 0, 0, 1, 9, b'a', b'b', b'c'];
    let mut second_short = good[..sr_len].to_vec();
    second_short.extend([0x80, 201]);
    let cases: Vec<(&str, Vec<u8>, RtcpError)> = vec![
        ("empty", vec![], RtcpError::TooShort { len: 0, needed: 4 }),
        (
            "3 bytes",
            good[..3].to_vec(),
            RtcpError::TooShort { len: 3, needed: 4 },
        ),
        ("version 1", v1, RtcpError::BadVersion(1)),
        (
            "length past end",
            long,
            RtcpError::LengthMismatch {
                declared: sr_len + 4,
                available: sr_len,
            },
        ),
        (
            "padding on first of three",
            pad_first,
            RtcpError::BadPadding {
                count: 0,
                len: sr_len,
            },
        ),
        (
            "3 report blocks claimed, 2 present",
            too_many_blocks,
            RtcpError::BodyTooShort {
                pt: 200,
                count: 3,
                needed: 96,
                len: 72,
            },
        ),
        (
            "padding count 0",
            pad_zero.clone(),
            RtcpError::BadPadding {
                count: 0,
                len: pad_zero.len(),
            },
        ),
        (
            "BYE reason past end",
            bye_reason.clone(),
            RtcpError::TextTruncated,
        ),
        (
            "trailing half header",
            second_short,
            RtcpError::TooShort { len: 2, needed: 4 },
        ),
    ];
    for (name, buf, want) in cases {
        assert_eq!(RtcpCompound::parse(&buf), Err(want), "{name}");
        assert!(want.to_string().len() > 20, "{name}: {want}");
    }
    bye_reason[8] = 3;
    assert!(RtcpCompound::parse(&bye_reason).is_ok());
}

#[test]
fn ntp_conversion() {
    let t = ntp_timestamp(Duration::new(1_700_000_000, 500_000_000));
    assert_eq!(t >> 32, 1_700_000_000 + 2_208_988_800);
    assert_eq!(t & 0xFFFF_FFFF, 0x8000_0000);
}

#[test]
fn stats_count_loss_across_a_wrap() {
    let t0 = Instant::now();
    let mut s = ReceiverStats::new(42, 65530, 8000);
    // Probation: the first packet is not yet valid, the second is.
    assert!(!s.on_packet(t0, 65530, 0));
    let mut seq = 65531u16;
    let mut ts = 160u32;
    let mut received = 0;
    for i in 0..100u32 {
        // Lose every tenth packet after the first few.
        if i % 10 != 5 {
            assert!(s.on_packet(t0 + Duration::from_millis(20 * u64::from(i + 1)), seq, ts));
            received += 1;
        }
        seq = seq.wrapping_add(1);
        ts = ts.wrapping_add(160);
    }
    assert_eq!(s.received(), received);
    assert_eq!(s.expected(), 100);
    assert_eq!(s.cumulative_lost(), 10);
    let b = s.report_block(t0 + Duration::from_secs(3));
    assert_eq!(b.ssrc, 42);
    assert_eq!(b.cumulative_lost, 10);
    assert_eq!(b.fraction_lost, (10 * 256 / 100) as u8);
    // The wrap shows in the top 16 bits.
    assert_eq!(b.highest_seq, 65536 + u32::from(seq.wrapping_sub(1)));
    // Perfect pacing: no jitter.
    assert_eq!(b.jitter, 0);
    // Nothing new: the next interval has no loss.
    assert_eq!(s.report_block(t0 + Duration::from_secs(4)).fraction_lost, 0);
}

#[test]
fn stats_jitter_tracks_arrival_variation() {
    let t0 = Instant::now();
    let mut s = ReceiverStats::new(1, 0, 8000);
    for i in 0..2000u32 {
        // Every other packet 10 ms late: |D| alternates 80 timestamp units.
        let late = if i % 2 == 1 { 10 } else { 0 };
        let at = t0 + Duration::from_millis(u64::from(20 * i + late));
        s.on_packet(at, i as u16, 160 * i);
    }
    // J converges to |D| = 80 (10 ms at 8 kHz).
    let j = s.jitter();
    assert!((78..=80).contains(&j), "jitter {j}");
}

#[test]
fn stats_resync_after_restart_and_lsr() {
    let t0 = Instant::now();
    let mut s = ReceiverStats::new(1, 100, 8000);
    for seq in 100..110u16 {
        s.on_packet(t0, seq, 0);
    }
    // A big jump is ignored once, then accepted as a restart.
    assert!(!s.on_packet(t0, 40000, 0));
    assert!(s.on_packet(t0, 40001, 0));
    assert_eq!(s.received(), 1);
    assert_eq!(s.extended_max(), 40001);
    s.on_sender_report(t0, 0x0001_2345_6789_0000);
    let b = s.report_block(t0 + Duration::from_millis(500));
    assert_eq!(b.last_sr, 0x2345_6789);
    assert_eq!(b.delay_since_last_sr, 32768);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(buf in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(c) = RtcpCompound::parse(&buf) {
            for p in c.packets() {
                if let RtcpPacket::SenderReport { blocks, .. } | RtcpPacket::ReceiverReport { blocks, .. } = p {
                    let _ = blocks.iter().count();
                }
            }
        }
    }

    #[test]
    fn build_then_parse_round_trips(
        ssrc in any::<u32>(),
        info in (any::<u64>(), any::<u32>(), any::<u32>(), any::<u32>()),
        raw in prop::collection::vec((any::<u32>(), any::<u8>(), -0x80_0000i32..0x80_0000, any::<[u32; 4]>()), 0..31),
        cname in "[a-z0-9@.]{0,40}",
        bye in prop::collection::vec(any::<u32>(), 0..31),
        reason in prop::option::of("[ -~]{0,60}"),
    ) {
        let blocks: Vec<ReportBlock> = raw.iter().map(|(s, f, l, r)| ReportBlock {
            ssrc: *s, fraction_lost: *f, cumulative_lost: *l,
            highest_seq: r[0], jitter: r[1], last_sr: r[2], delay_since_last_sr: r[3],
        }).collect();
        let info = SenderInfo { ntp_timestamp: info.0, rtp_timestamp: info.1, packet_count: info.2, octet_count: info.3 };
        let mut buf = vec![0u8; 4096];
        let mut w = RtcpWriter::new(&mut buf);
        w.sender_report(ssrc, &info, &blocks).unwrap();
        w.receiver_report(ssrc, &blocks).unwrap();
        w.sdes_cname(ssrc, &cname).unwrap();
        w.bye(&bye, reason.as_deref()).unwrap();
        let n = w.len();
        let c = RtcpCompound::parse(&buf[..n]).unwrap();
        let packets: Vec<_> = c.packets().collect();
        prop_assert_eq!(packets.len(), 4);
        match packets[0] {
            RtcpPacket::SenderReport { ssrc: s, info: i, blocks: b } => {
                prop_assert_eq!(s, ssrc);
                prop_assert_eq!(i, info);
                prop_assert_eq!(b.iter().collect::<Vec<_>>(), blocks.clone());
            }
            _ => prop_assert!(false, "not an SR"),
        }
        match packets[1] {
            RtcpPacket::ReceiverReport { blocks: b, .. } => prop_assert_eq!(b.iter().collect::<Vec<_>>(), blocks.clone()),
            _ => prop_assert!(false, "not an RR"),
        }
        match packets[3] {
            RtcpPacket::Bye { sources, reason: r } => {
                prop_assert_eq!(sources.iter().collect::<Vec<_>>(), bye.clone());
                prop_assert_eq!(r, reason.as_deref().map(str::as_bytes));
            }
            _ => prop_assert!(false, "not a BYE"),
        }
    }

    #[test]
    fn stats_never_panic(events in prop::collection::vec((any::<u16>(), any::<u32>(), 0u64..100_000), 0..200)) {
        let t0 = Instant::now();
        let mut s = ReceiverStats::new(1, events.first().map_or(0, |e| e.0), 48000);
        for (i, (seq, ts, ms)) in events.iter().enumerate() {
            s.on_packet(t0 + Duration::from_millis(*ms), *seq, *ts);
            if i % 7 == 0 {
                let b = s.report_block(t0 + Duration::from_millis(*ms));
                prop_assert!((-0x80_0000..=0x7F_FFFF).contains(&b.cumulative_lost));
            }
        }
    }
}
