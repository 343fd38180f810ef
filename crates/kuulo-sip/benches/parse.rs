//! Parse and serialize a realistic INVITE (12 headers and SDP) and its 200
//! OK with Kuulo's message layer and with rsip.
//!
//! For a fair comparison both sides parse the message and read what a
//! transaction layer needs on every message: Call-ID, CSeq number, the top
//! Via's branch and the From tag. `kuulo` reads them with the borrowed
//! accessors (`top_via_branch`, `from_tag`), `kuulo_typed` with the typed
//! ones (`top_via()`, `from_header()`, which parse the whole header like
//! rsip's `typed()`). Figures are in docs/benchmarks.md.
//!
//! `cargo bench -p kuulo-sip --bench parse -- --warm-up-time 1 --measurement-time 3`

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use kuulo_sip::message::{HeaderAccess, SipMessage};
use rsip::prelude::*;

pub const INVITE: &str = "INVITE sip:+358401234567@example.fi SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK74bf9a8f;rport\r\n\
Max-Forwards: 70\r\n\
From: \"Kuulo survey\" <sip:kuulo@example.fi>;tag=9fxced76sl\r\n\
To: <sip:+358401234567@example.fi>\r\n\
Call-ID: 3848276298220188511@192.0.2.20\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:kuulo@192.0.2.20:5060>\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE\r\n\
Supported: timer\r\n\
User-Agent: kuulo/0.1\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 226\r\n\
\r\n\
v=0\r\n\
o=kuulo 2890844526 2890844526 IN IP4 192.0.2.20\r\n\
s=-\r\n\
c=IN IP4 192.0.2.20\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 0 8 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n";

pub const OK_200: &str = "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK74bf9a8f;rport=5060;received=192.0.2.20\r\n\
From: \"Kuulo survey\" <sip:kuulo@example.fi>;tag=9fxced76sl\r\n\
To: <sip:+358401234567@example.fi>;tag=8321234356\r\n\
Call-ID: 3848276298220188511@192.0.2.20\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:+358401234567@192.0.2.30:5060>\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE\r\n\
Supported: timer\r\n\
Server: example-pbx/2.3\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 200\r\n\
\r\n\
v=0\r\n\
o=pbx 1234 1234 IN IP4 192.0.2.30\r\n\
s=-\r\n\
c=IN IP4 192.0.2.30\r\n\
t=0 0\r\n\
m=audio 30000 RTP/AVP 0 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

/// Ours: parse, then read what a transaction layer reads, with the
/// borrowed accessors it uses on every message.
fn ours(wire: &Bytes) -> (usize, u32, usize, usize) {
    let msg = SipMessage::parse(wire.clone()).expect("parses");
    match &msg {
        SipMessage::Request(r) => read(r),
        SipMessage::Response(r) => read(r),
    }
}

fn read(m: &impl HeaderAccess) -> (usize, u32, usize, usize) {
    let call_id = m.call_id().unwrap().len();
    let seq = m.cseq().unwrap().seq;
    let branch = m.top_via_branch().unwrap().len();
    let tag = m.from_tag().unwrap().len();
    (call_id, seq, branch, tag)
}

/// Ours again, but through the typed accessors: the whole top Via and From
/// are parsed into `Via` and `NameAddr` values, as rsip's `typed()` does.
fn ours_typed(wire: &Bytes) -> (usize, u32, usize, usize) {
    let msg = SipMessage::parse(wire.clone()).expect("parses");
    match &msg {
        SipMessage::Request(r) => read_typed(r),
        SipMessage::Response(r) => read_typed(r),
    }
}

fn read_typed(m: &impl HeaderAccess) -> (usize, u32, usize, usize) {
    let call_id = m.call_id().unwrap().len();
    let seq = m.cseq().unwrap().seq;
    let branch = m.top_via().unwrap().branch().unwrap().len();
    let tag = m.from_header().unwrap().tag().unwrap().len();
    (call_id, seq, branch, tag)
}

/// rsip: the same.
fn theirs(wire: &[u8]) -> (usize, u32, usize, usize) {
    let msg = rsip::SipMessage::try_from(wire).expect("rsip parses");
    let call_id = msg.call_id_header().unwrap().value().len();
    let seq = msg.cseq_header().unwrap().seq().unwrap();
    let via = msg.via_header().unwrap().typed().unwrap();
    let branch = via.branch().unwrap().value().len();
    let tag = msg
        .from_header()
        .unwrap()
        .tag()
        .unwrap()
        .unwrap()
        .value()
        .len();
    (call_id, seq, branch, tag)
}

fn bench(c: &mut Criterion) {
    for (name, text) in [("invite", INVITE), ("ok_200", OK_200)] {
        let wire = Bytes::from_static(text.as_bytes());
        assert_eq!(ours(&wire), theirs(&wire), "both read the same values");
        assert_eq!(
            ours_typed(&wire),
            theirs(&wire),
            "both read the same values"
        );

        let mut group = c.benchmark_group(format!("parse_{name}"));
        group.throughput(Throughput::Bytes(wire.len() as u64));
        group.bench_function("kuulo", |b| b.iter(|| ours(black_box(&wire))));
        group.bench_function("kuulo_typed", |b| b.iter(|| ours_typed(black_box(&wire))));
        group.bench_function("rsip", |b| b.iter(|| theirs(black_box(&wire))));
        group.finish();

        let parsed = SipMessage::parse(wire.clone()).unwrap();
        let rsip_parsed = rsip::SipMessage::try_from(&wire[..]).unwrap();
        let mut group = c.benchmark_group(format!("serialize_{name}"));
        group.throughput(Throughput::Bytes(wire.len() as u64));
        group.bench_function("kuulo", |b| b.iter(|| black_box(&parsed).to_bytes()));
        group.bench_function("rsip", |b| b.iter(|| black_box(&rsip_parsed).to_string()));
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
