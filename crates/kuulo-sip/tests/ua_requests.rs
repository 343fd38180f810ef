//! Single requests fed straight into a `UserAgent`, checking the responses
//! a UAS owes them: received/rport, merged-request 482, 481, 405, 501,
//! OPTIONS, and what a placed call carries (caller ID, P-Asserted-Identity).

use bytes::Bytes;
use kuulo_sip::message::{HeaderAccess, HeaderName, SipMessage, Uri};
use kuulo_sip::transport::Peer;
use kuulo_sip::ua::{UaConfig, UaEvent, UserAgent};
use std::net::SocketAddr;
use std::time::Instant;

fn ua() -> UserAgent {
    UserAgent::new(UaConfig::new("127.0.0.1:5080".parse().unwrap()))
}

fn request(method: &str, branch: &str, extra: &str) -> Bytes {
    Bytes::from(format!(
        "{method} sip:survey@127.0.0.1:5080 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bK{branch};rport\r\n\
         From: <sip:resident@10.0.0.7>;tag=abc\r\n\
         To: <sip:survey@127.0.0.1>\r\n\
         Call-ID: call-1@10.0.0.7\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:resident@10.0.0.7:5060>\r\n\
         {extra}Content-Length: 0\r\n\r\n"
    ))
}

/// Every response the UA queued, parsed.
fn responses(ua: &mut UserAgent) -> Vec<(SocketAddr, kuulo_sip::message::Response)> {
    let mut out = Vec::new();
    while let Some(t) = ua.poll_transmit() {
        if let Ok(SipMessage::Response(r)) = SipMessage::parse(t.payload) {
            out.push((t.destination.addr, r));
        }
    }
    out
}

#[test]
fn responses_go_back_where_the_request_came_from() {
    let mut ua = ua();
    // Behind a NAT: the Via says 10.0.0.7:5060, the packet came from here.
    let nat: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    ua.handle_datagram(Instant::now(), Peer::udp(nat), request("OPTIONS", "o1", ""));
    let rs = responses(&mut ua);
    assert_eq!(rs.len(), 1);
    let (dest, r) = &rs[0];
    assert_eq!(*dest, nat, "RFC 3581: answer the source address");
    assert_eq!(r.status, 200);
    let via = r.top_via().unwrap();
    assert_eq!(via.received(), Some("127.0.0.1"));
    assert_eq!(via.rport(), Some(Some(40000)));
    assert!(r
        .headers
        .get(&HeaderName::Allow)
        .unwrap()
        .contains("INVITE"));
}

#[test]
fn merged_invite_gets_482() {
    let mut ua = ua();
    let from = Peer::udp("127.0.0.1:5060".parse().unwrap());
    let now = Instant::now();
    ua.handle_datagram(now, from, request("INVITE", "first", ""));
    let _ = responses(&mut ua);
    // The same INVITE forked back to us along another path: new branch.
    ua.handle_datagram(now, from, request("INVITE", "second", ""));
    let rs = responses(&mut ua);
    let statuses: Vec<u16> = rs.iter().map(|(_, r)| r.status).collect();
    assert!(statuses.contains(&482), "{statuses:?}");
    let incoming = std::iter::from_fn(|| ua.poll_event())
        .filter(|e| matches!(e, UaEvent::Incoming { .. }))
        .count();
    assert_eq!(incoming, 1, "the merged copy must not become a second call");
}

#[test]
fn methods_we_do_not_serve() {
    let mut ua = ua();
    let from = Peer::udp("127.0.0.1:5060".parse().unwrap());
    let now = Instant::now();
    for (method, branch, status) in [
        ("SUBSCRIBE", "s1", 405),
        ("REGISTER", "r1", 405),
        ("FROBNICATE", "f1", 501),
        ("BYE", "b1", 481),
    ] {
        ua.handle_datagram(now, from, request(method, branch, ""));
        let rs = responses(&mut ua);
        assert_eq!(rs.len(), 1, "{method}");
        assert_eq!(rs[0].1.status, status, "{method}");
        if status == 405 || status == 501 {
            assert!(
                rs[0].1.headers.contains(&HeaderName::Allow),
                "{method} needs Allow"
            );
        }
    }
    // A BYE for an unknown dialog (with a To tag) gets 481 as well.
    let bye = String::from_utf8(request("BYE", "b2", "").to_vec())
        .unwrap()
        .replace(
            "To: <sip:survey@127.0.0.1>",
            "To: <sip:survey@127.0.0.1>;tag=nosuch",
        );
    ua.handle_datagram(now, from, Bytes::from(bye));
    assert_eq!(responses(&mut ua)[0].1.status, 481);
}

#[test]
fn placed_call_carries_caller_id_and_pai() {
    let mut config = UaConfig::new("127.0.0.1:5070".parse().unwrap());
    config.from = "\"Oulun kaupunki\" <sip:+358812345@trunk.example>".into();
    config.p_asserted_identity = Some("<sip:+358812345@trunk.example>".into());
    let mut ua = UserAgent::new(config);
    let target = Uri::parse("sip:+358401234567@trunk.example").unwrap();
    ua.invite(
        Instant::now(),
        target,
        Peer::udp("127.0.0.1:5090".parse().unwrap()),
        Bytes::from_static(b"v=0\r\n"),
    );
    let t = ua.poll_transmit().unwrap();
    let SipMessage::Request(invite) = SipMessage::parse(t.payload).unwrap() else {
        panic!("not a request")
    };
    let from = invite.from_header().unwrap();
    assert_eq!(from.display.as_deref(), Some("Oulun kaupunki"));
    assert!(from.tag().is_some());
    assert_eq!(
        invite.headers.get(&HeaderName::PAssertedIdentity),
        Some("<sip:+358812345@trunk.example>")
    );
    assert_eq!(invite.content_type().as_deref(), Some("application/sdp"));
    assert_eq!(invite.max_forwards().unwrap(), Some(70));
}
