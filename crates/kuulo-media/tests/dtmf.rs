//! RFC 4733 payloads, receiver cases as packet tables, and a sender to
//! receiver round trip.

use std::time::{Duration, Instant};

use kuulo_media::dtmf::{
    event_to_key, key_to_event, DtmfDigit, DtmfEnd, DtmfError, DtmfReceiver, DtmfReceiverConfig,
    DtmfSender, DtmfSenderConfig, TelephoneEvent,
};
use proptest::prelude::*;

#[test]
fn payload_parses_and_builds() {
    let ev = TelephoneEvent::parse(&[0x05, 0x8A, 0x03, 0x20]).unwrap();
    assert_eq!(
        ev,
        TelephoneEvent {
            event: 5,
            end: true,
            volume: 10,
            duration: 800
        }
    );
    assert_eq!(ev.to_bytes(), [0x05, 0x8A, 0x03, 0x20]);
    // The reserved bit is ignored on input and cleared on output.
    let r = TelephoneEvent::parse(&[0x0B, 0x4A, 0x00, 0xA0]).unwrap();
    assert_eq!((r.event, r.end, r.volume), (11, false, 10));
    assert_eq!(r.to_bytes(), [0x0B, 0x0A, 0x00, 0xA0]);
}

#[test]
fn bad_payloads_are_typed_errors() {
    assert_eq!(TelephoneEvent::parse(&[1, 2, 3]), Err(DtmfError::Length(3)));
    assert_eq!(TelephoneEvent::parse(&[]), Err(DtmfError::Length(0)));
    assert_eq!(TelephoneEvent::parse(&[0; 8]), Err(DtmfError::Length(8)));
    assert_eq!(
        TelephoneEvent::parse(&[16, 0, 0, 0]),
        Err(DtmfError::Event(16))
    );
    assert_eq!(event_to_key(200), Err(DtmfError::Event(200)));
    assert_eq!(key_to_event('x'), Err(DtmfError::Key('x')));
    assert_eq!(key_to_event('b'), Ok(13));
    for e in 0..16 {
        assert_eq!(key_to_event(event_to_key(e).unwrap()), Ok(e));
    }
}

/// One row of a packet table: arrival (ms), timestamp, marker, seq, event,
/// end bit, duration.
type Row = (u64, u32, bool, u16, u8, bool, u16);

/// Feeds a table, then lets the receiver's timeout run out at `end_ms`.
fn receive(rows: &[Row], end_ms: u64) -> Vec<DtmfDigit> {
    let t0 = Instant::now();
    let mut rx = DtmfReceiver::new(DtmfReceiverConfig::default());
    let mut out = Vec::new();
    for &(at, ts, marker, seq, event, end, duration) in rows {
        let payload = TelephoneEvent {
            event,
            end,
            volume: 10,
            duration,
        }
        .to_bytes();
        rx.handle_packet(t0 + Duration::from_millis(at), ts, marker, seq, &payload)
            .unwrap();
        out.extend(std::iter::from_fn(|| rx.poll_digit()));
    }
    rx.handle_timeout(t0 + Duration::from_millis(end_ms));
    out.extend(std::iter::from_fn(|| rx.poll_digit()));
    out
}

/// What a case expects of each digit: key, duration, how it ended.
type Want = (char, u32, DtmfEnd);

fn keys(d: &[DtmfDigit]) -> Vec<Want> {
    d.iter().map(|d| (d.digit, d.duration, d.end)).collect()
}

use DtmfEnd::{EndPacket, Superseded, Timeout};

/// A press of `event` at timestamp `ts`: marker start, continuations every
/// 20 ms, three end packets; seq from `seq0`, time from `at0`.
fn press(at0: u64, seq0: u16, ts: u32, event: u8, total: u16) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut d = 160;
    let mut n = 0;
    while d < total {
        rows.push((at0 + 20 * n, ts, n == 0, seq0 + n as u16, event, false, d));
        d += 160;
        n += 1;
    }
    for k in 0..3 {
        rows.push((
            at0 + 20 * (n + k),
            ts,
            n + k == 0,
            seq0 + (n + k) as u16,
            event,
            true,
            total,
        ));
    }
    rows
}

#[test]
fn table_of_receiver_cases() {
    let plain = press(0, 1, 8000, 5, 800);
    let dup: Vec<Row> = plain.iter().flat_map(|r| [*r, *r]).collect();
    let twice = [
        press(0, 1, 8000, 1, 640),
        press(300, 10, 8000 + 2400, 1, 640),
    ]
    .concat();
    let no_end: Vec<Row> = plain.iter().copied().filter(|r| !r.5).collect();
    let no_start: Vec<Row> = plain[2..].to_vec();
    let only_end: Vec<Row> = plain.iter().copied().filter(|r| r.5).collect();
    let mut reordered = plain.clone();
    reordered.swap(3, 4);
    reordered.push((200, 8000, false, 2, 5, false, 320));
    let superseded = [no_end.clone(), press(120, 20, 8000 + 960, 9, 480)].concat();
    let straggler = [
        press(0, 1, 8000, 3, 480),
        vec![(300, 8000, false, 2, 3, false, 320)],
        press(310, 30, 11_000, 4, 480),
        vec![(400, 8000, false, 3, 3, true, 480)],
    ]
    .concat();
    // A long press: a full first segment, then a second segment 0xFFFF later.
    let long = vec![
        (0, 100, true, 1, 7, false, 160),
        (20, 100, false, 2, 7, false, 0xFF00),
        (40, 100, false, 3, 7, false, 0xFFFF),
        (60, 100 + 0xFFFF, false, 4, 7, false, 160),
        (80, 100 + 0xFFFF, false, 5, 7, true, 320),
        (100, 100 + 0xFFFF, false, 6, 7, true, 320),
    ];
    let cases: Vec<(&str, Vec<Row>, Vec<Want>)> = vec![
        (
            "start, continuation, three ends",
            plain,
            vec![('5', 800, EndPacket)],
        ),
        ("every packet duplicated", dup, vec![('5', 800, EndPacket)]),
        (
            "same key twice",
            twice,
            vec![('1', 640, EndPacket), ('1', 640, EndPacket)],
        ),
        ("end packets lost", no_end, vec![('5', 640, Timeout)]),
        ("start packets lost", no_start, vec![('5', 800, EndPacket)]),
        ("only end packets", only_end, vec![('5', 800, EndPacket)]),
        (
            "reordered and straggling",
            reordered,
            vec![('5', 800, EndPacket)],
        ),
        (
            "next key before end",
            superseded,
            vec![('5', 640, Superseded), ('9', 480, EndPacket)],
        ),
        (
            "straggler of older event",
            straggler,
            vec![('3', 480, EndPacket), ('4', 480, EndPacket)],
        ),
        (
            "long press in two segments",
            long,
            vec![('7', 0xFFFF + 320, EndPacket)],
        ),
    ];
    for (name, rows, want) in cases {
        assert_eq!(keys(&receive(&rows, 10_000)), want, "case: {name}");
    }
}

#[test]
fn lost_end_waits_for_timeout() {
    let t0 = Instant::now();
    let mut rx = DtmfReceiver::new(DtmfReceiverConfig::default());
    let p = TelephoneEvent {
        event: 2,
        end: false,
        volume: 10,
        duration: 160,
    }
    .to_bytes();
    rx.handle_packet(t0, 0, true, 1, &p).unwrap();
    assert_eq!(rx.active_key(), Some('2'));
    let at = rx.poll_timeout().unwrap();
    assert_eq!(at, t0 + Duration::from_millis(250));
    rx.handle_timeout(at - Duration::from_millis(1));
    assert_eq!(rx.poll_digit(), None);
    rx.handle_timeout(at);
    assert_eq!(rx.poll_digit().map(|d| d.end), Some(Timeout));
    assert_eq!(rx.poll_timeout(), None);
}

#[test]
fn receiver_rejects_garbage_without_state_change() {
    let mut rx = DtmfReceiver::new(DtmfReceiverConfig::default());
    let t0 = Instant::now();
    assert!(rx.handle_packet(t0, 0, true, 1, &[1, 2]).is_err());
    assert!(rx.handle_packet(t0, 0, true, 1, &[99, 0, 0, 0]).is_err());
    assert_eq!(rx.active_key(), None);
}

#[test]
fn sender_packets_at_20_ms() {
    let tx = DtmfSender::new(DtmfSenderConfig::default());
    let pkts: Vec<_> = tx
        .send('7', Duration::from_millis(100), 4242)
        .unwrap()
        .collect();
    let evs: Vec<TelephoneEvent> = pkts
        .iter()
        .map(|p| TelephoneEvent::parse(&p.payload).unwrap())
        .collect();
    let durations: Vec<u16> = evs.iter().map(|e| e.duration).collect();
    assert_eq!(durations, [160, 320, 480, 640, 800, 800, 800]);
    let ends: Vec<bool> = evs.iter().map(|e| e.end).collect();
    assert_eq!(ends, [false, false, false, false, true, true, true]);
    assert!(pkts.iter().all(|p| p.timestamp == 4242));
    let markers: Vec<bool> = pkts.iter().map(|p| p.marker).collect();
    assert_eq!(markers, [true, false, false, false, false, false, false]);
    let offsets: Vec<u32> = pkts.iter().map(|p| p.offset).collect();
    assert_eq!(offsets, [160, 320, 480, 640, 800, 960, 1120]);
    assert!(evs.iter().all(|e| e.event == 7 && e.volume == 10));
}

#[test]
fn sender_packets_at_50_ms_and_short_press() {
    let tx = DtmfSender::new(DtmfSenderConfig {
        interval: 400,
        ..DtmfSenderConfig::default()
    });
    let d: Vec<(u16, bool)> = tx
        .send('#', Duration::from_millis(120), 0)
        .unwrap()
        .map(|p| TelephoneEvent::parse(&p.payload).unwrap())
        .map(|e| (e.duration, e.end))
        .collect();
    assert_eq!(
        d,
        [
            (400, false),
            (800, false),
            (960, true),
            (960, true),
            (960, true)
        ]
    );
    // A press shorter than one interval still makes a packet of one interval.
    let n = tx.send('1', Duration::ZERO, 0).unwrap().count();
    assert_eq!(n, 3);
    assert_eq!(
        tx.send('z', Duration::from_millis(100), 0).err(),
        Some(DtmfError::Key('z'))
    );
}

#[test]
fn sender_splits_long_press_into_segments() {
    let tx = DtmfSender::new(DtmfSenderConfig::default());
    let pkts: Vec<_> = tx
        .send('0', Duration::from_secs(10), 1000)
        .unwrap()
        .collect();
    let first_seg = pkts.iter().filter(|p| p.timestamp == 1000).count();
    let last_of_first = pkts.iter().rfind(|p| p.timestamp == 1000).unwrap();
    let ev = TelephoneEvent::parse(&last_of_first.payload).unwrap();
    assert_eq!((ev.duration, ev.end), (0xFFFF, false));
    assert_eq!(first_seg, 0xFFFF / 160 + 1);
    let tail = TelephoneEvent::parse(&pkts.last().unwrap().payload).unwrap();
    assert_eq!(pkts.last().unwrap().timestamp, 1000 + 0xFFFF);
    assert_eq!((tail.duration, tail.end), ((80_000 - 0xFFFF) as u16, true));
    assert_eq!(pkts.iter().filter(|p| p.marker).count(), 1);
}

/// One press in a round trip: key, length, gap before the next, and what
/// the network does to it.
#[derive(Debug, Clone)]
struct Press {
    key: u8,
    ms: u64,
    gap_ms: u64,
    lose: Vec<bool>,
    dup: Vec<bool>,
    lose_ends: bool,
}

fn press_strategy() -> impl Strategy<Value = Press> {
    (
        0u8..16,
        prop_oneof![40u64..400, 400u64..20_000],
        60u64..600,
        proptest::collection::vec(proptest::bool::weighted(0.2), 64),
        proptest::collection::vec(proptest::bool::weighted(0.1), 64),
        proptest::bool::weighted(0.15),
    )
        .prop_map(|(key, ms, gap_ms, lose, dup, lose_ends)| Press {
            key,
            ms,
            gap_ms,
            lose,
            dup,
            lose_ends,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sender_to_receiver_round_trip(presses in proptest::collection::vec(press_strategy(), 1..8), ts0 in any::<u32>(), seq0 in any::<u16>()) {
        let tx = DtmfSender::new(DtmfSenderConfig::default());
        let mut rx = DtmfReceiver::new(DtmfReceiverConfig::default());
        let t0 = Instant::now();
        let mut ts = ts0;
        let mut seq = seq0;
        let mut at_units: u64 = 0;
        let mut got = Vec::new();
        for p in &presses {
            let key = event_to_key(p.key).unwrap();
            let pkts: Vec<_> = tx.send(key, Duration::from_millis(p.ms), ts).unwrap().collect();
            for (i, pkt) in pkts.iter().enumerate() {
                let end = TelephoneEvent::parse(&pkt.payload).unwrap().end;
                let first = i == 0;
                let lost = if end { p.lose_ends } else { !first && p.lose[i % 64] };
                // The first packet is never lost, so every press is heard.
                if lost {
                    seq = seq.wrapping_add(1);
                    continue;
                }
                let now = t0 + Duration::from_micros((at_units + u64::from(pkt.offset)) * 125);
                let copies = if p.dup[i % 64] { 2 } else { 1 };
                for _ in 0..copies {
                    rx.handle_packet(now, pkt.timestamp, pkt.marker, seq, &pkt.payload).unwrap();
                }
                seq = seq.wrapping_add(1);
                got.extend(std::iter::from_fn(|| rx.poll_digit()));
            }
            let units = p.ms * 8 + p.gap_ms * 8;
            ts = ts.wrapping_add(units as u32);
            at_units += units;
        }
        rx.handle_timeout(t0 + Duration::from_secs(3600));
        got.extend(std::iter::from_fn(|| rx.poll_digit()));
        let want: Vec<char> = presses.iter().map(|p| event_to_key(p.key).unwrap()).collect();
        let have: Vec<char> = got.iter().map(|d| d.digit).collect();
        prop_assert_eq!(have, want);
        for (p, d) in presses.iter().zip(&got) {
            let total = (p.ms * 8).max(160) as u32;
            if d.end == DtmfEnd::EndPacket {
                prop_assert_eq!(d.duration, total);
            } else {
                prop_assert!(d.duration <= total);
            }
        }
    }
}

/// Replays the dtmf_event fuzz seeds (fuzz/corpus/dtmf_event/): 4-byte
/// seeds are payloads that must parse and rebuild; longer ones are packet
/// streams the receiver must take without error.
#[test]
fn fuzz_seed_corpus_replays() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/dtmf_event");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!("skipped: no corpus at {}", dir.display());
        return;
    };
    let t0 = Instant::now();
    for e in entries.filter_map(Result::ok) {
        let data = std::fs::read(e.path()).unwrap();
        if data.len() == 4 {
            let ev = TelephoneEvent::parse(&data).unwrap();
            assert_eq!(ev.to_bytes()[..], data[..], "{:?}", e.path());
            continue;
        }
        let mut rx = DtmfReceiver::new(DtmfReceiverConfig::default());
        let (mut ts, mut seq, mut ms) = (0u32, 0u16, 0u64);
        for r in data.chunks_exact(9) {
            ts = ts.wrapping_add(u32::from(u16::from_be_bytes([r[0], r[1]])));
            seq = seq.wrapping_add(u16::from(r[3] & 3));
            ms += u64::from(r[4]);
            let now = t0 + Duration::from_millis(ms);
            rx.handle_packet(now, ts, r[2] & 1 == 1, seq, &r[5..9])
                .unwrap();
        }
        assert!(
            rx.poll_digit().is_some(),
            "{:?} holds a key press",
            e.path()
        );
    }
}
