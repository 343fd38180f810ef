//! Counts heap allocations on the parse path with a counting global
//! allocator: parsing must cost a handful of allocations per message, and
//! that number must not grow with the number of headers (the header index
//! keeps every value as a slice of the datagram).

use bytes::Bytes;
use kuulo_sip::message::{HeaderAccess, SipMessage};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    // Per thread, so other tests running in parallel do not disturb the
    // count. A const-initialised Cell needs no allocation of its own.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn bump() {
    // `try_with`: the slot may be gone while a thread is being torn down.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = ALLOCATIONS.with(Cell::get);
    let out = f();
    (ALLOCATIONS.with(Cell::get) - before, out)
}

const SDP: &str = "v=0\r\n\
o=kuulo 2890844526 2890844526 IN IP4 192.0.2.20\r\n\
s=-\r\n\
c=IN IP4 192.0.2.20\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 0 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n";

/// A realistic INVITE with `headers` header lines (at least 12): the usual
/// ones, then known and unknown extras.
fn invite(headers: usize) -> Vec<u8> {
    let mut lines = vec![
        "Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK74bf9a8f;rport".to_string(),
        "Max-Forwards: 70".into(),
        "From: \"Kuulo survey\" <sip:kuulo@example.fi>;tag=9fxced76sl".into(),
        "To: <sip:+358401234567@example.fi>".into(),
        "Call-ID: 3848276298220188511@192.0.2.20".into(),
        "CSeq: 1 INVITE".into(),
        "Contact: <sip:kuulo@192.0.2.20:5060>".into(),
        "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS".into(),
        "Supported: timer".into(),
        "User-Agent: kuulo/0.1".into(),
        "Content-Type: application/sdp".into(),
    ];
    let mut i = 0;
    while lines.len() + 1 < headers {
        lines.push(match i % 4 {
            0 => format!("X-Survey-Field-{i}: value number {i}"),
            1 => format!("Record-Route: <sip:proxy{i}.example.fi;lr>"),
            2 => format!("P-Custom-{i}: opaque;param={i}"),
            _ => format!("Subject: survey {i}"),
        });
        i += 1;
    }
    lines.push(format!("Content-Length: {}", SDP.len()));
    assert_eq!(lines.len(), headers);
    let mut text = String::from("INVITE sip:+358401234567@example.fi SIP/2.0\r\n");
    for line in lines {
        text.push_str(&line);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    text.push_str(SDP);
    text.into_bytes()
}

fn parse_count(wire: Vec<u8>) -> usize {
    // Built before counting: a receive buffer the transport already has.
    let bytes = Bytes::from(wire);
    let (count, msg) = allocations_during(|| SipMessage::parse(bytes));
    let msg = msg.expect("parses");
    assert!(msg.as_request().unwrap().call_id().is_ok());
    count
}

#[test]
fn parse_allocations_do_not_grow_with_headers() {
    let small = parse_count(invite(12));
    let large = parse_count(invite(40));
    let huge = parse_count(invite(200));
    println!(
        "allocations while parsing: 12 headers {small}, 40 headers {large}, 200 headers {huge}"
    );
    assert!(
        small <= 8,
        "parsing a 12-header INVITE took {small} allocations"
    );
    assert_eq!(small, large, "allocations grow with the header count");
    assert_eq!(small, huge, "allocations grow with the header count");
}

#[test]
fn reading_the_transaction_keys_is_cheap() {
    let msg = SipMessage::parse(Bytes::from(invite(40))).unwrap();
    let req = msg.as_request().unwrap();
    // Call-ID and CSeq number are read without allocating a string.
    let (count, _) = allocations_during(|| req.call_id().unwrap().len());
    assert_eq!(count, 0);
}
