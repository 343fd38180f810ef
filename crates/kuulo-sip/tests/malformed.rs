//! Malformed input: a table of bad messages, every truncation of a good
//! one, and property tests. Nothing may panic; bad input gives a typed
//! error, good input round-trips through serialization.

use bytes::Bytes;
use kuulo_sip::message::{
    HeaderAccess, HeaderError, HeaderName, Method, ParseError, Request, SipMessage, SipUri,
    StreamFramer, Uri, MAX_MESSAGE_SIZE,
};
use proptest::prelude::*;

const INVITE: &str = "INVITE sip:survey@192.0.2.10:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK74bf9;rport\r\n\
Max-Forwards: 70\r\n\
From: \"Kuulo\" <sip:kuulo@example.fi>;tag=9fxced76sl\r\n\
To: <sip:+358401234567@example.fi>\r\n\
Call-ID: 3848276298220188511@192.0.2.20\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:kuulo@192.0.2.20:5060>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 138\r\n\
\r\n\
v=0\r\n\
o=kuulo 2890844526 2890844526 IN IP4 192.0.2.20\r\n\
s=-\r\n\
c=IN IP4 192.0.2.20\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 0 101\r\n\
a=rtpmap:0 PCMU/8000\r\n";

fn parse(bytes: &[u8]) -> Result<SipMessage, ParseError> {
    SipMessage::parse(Bytes::copy_from_slice(bytes))
}

/// Exercises everything a UAS would read from a message, so a panic in a
/// typed accessor is found too. Errors are fine.
fn touch(msg: &SipMessage) {
    let h: &dyn Fn(&dyn HeaderAccess) = &|m| {
        let _ = m.call_id();
        let _ = m.top_via();
        let _ = m.vias();
        let _ = m.from_header();
        let _ = m.to_header();
        let _ = m.cseq();
        let _ = m.contacts();
        let _ = m.is_wildcard_contact();
        let _ = m.routes();
        let _ = m.record_routes();
        let _ = m.max_forwards();
        let _ = m.content_length();
        let _ = m.expires();
        let _ = m.rseq();
        let _ = m.rack();
        let _ = m.content_type();
        let _ = m.tokens(HeaderName::Supported);
        let _ = m.session_expires();
        let _ = m.reasons();
        let _ = m.challenges(HeaderName::WwwAuthenticate);
        let _ = m.credentials(HeaderName::Authorization);
        let _ = m.check_single_valued();
    };
    match msg {
        SipMessage::Request(r) => h(r),
        SipMessage::Response(r) => h(r),
    }
}

/// The checks of the fuzz target: parse; on success read every header,
/// serialize and parse again; feed the same bytes to a stream framer.
fn no_panic(bytes: &[u8]) {
    // The fuzz target's own checks first (round trip, fast accessors).
    kuulo_sip::message::fuzz_check(bytes);
    if let Ok(msg) = parse(bytes) {
        touch(&msg);
        let again = SipMessage::parse(msg.to_bytes()).expect("serialized message re-parses");
        touch(&again);
    }
    let mut framer = StreamFramer::new();
    for chunk in bytes.chunks(7) {
        framer.push(chunk);
        while let Ok(Some(frame)) = framer.next_frame() {
            let _ = SipMessage::parse(frame);
        }
    }
}

#[test]
fn good_invite_parses() {
    let msg = parse(INVITE.as_bytes()).unwrap();
    let req = msg.as_request().unwrap();
    assert_eq!(req.method, Method::Invite);
    assert_eq!(req.body.len(), 138);
}

#[test]
fn every_truncation_is_an_error_or_a_shorter_valid_message() {
    let full = INVITE.as_bytes();
    for cut in 0..full.len() {
        let prefix = &full[..cut];
        match parse(prefix) {
            Err(
                ParseError::Empty
                | ParseError::Unterminated
                | ParseError::BodyTruncated { .. }
                | ParseError::StartLine(_)
                | ParseError::BadVersion(_)
                | ParseError::RequestUri(_),
            ) => {}
            Err(other) => panic!("cut at {cut}: unexpected error {other:?}"),
            Ok(msg) => {
                // Only possible without Content-Length; ours has one, so no
                // prefix may parse.
                panic!("cut at {cut}: a truncated message parsed: {msg:?}");
            }
        }
        no_panic(prefix);
        // On a stream, a prefix is never a complete frame.
        let mut framer = StreamFramer::new();
        framer.push(prefix);
        assert_eq!(framer.next_frame(), Ok(None), "cut at {cut}");
    }
}

#[test]
fn truncations_without_content_length_parse_shorter_or_fail() {
    let full = INVITE.replace("Content-Length: 138\r\n", "");
    for cut in 0..full.len() {
        if let Ok(msg) = parse(&full.as_bytes()[..cut]) {
            // The whole header section arrived; the body is what is left.
            let req = msg.as_request().unwrap();
            assert_eq!(req.call_id().unwrap(), "3848276298220188511@192.0.2.20");
            assert!(full.as_bytes()[..cut].ends_with(&req.body));
        }
    }
}

#[test]
fn oversized_datagrams_are_refused() {
    let mut big = INVITE.as_bytes().to_vec();
    big.resize(MAX_MESSAGE_SIZE + 1, b'a');
    assert_eq!(parse(&big), Err(ParseError::TooLarge(MAX_MESSAGE_SIZE + 1)));
    // A header section that never ends on a stream.
    let mut framer = StreamFramer::new();
    framer.push(b"INVITE sip:a@b SIP/2.0\r\n");
    for _ in 0..MAX_MESSAGE_SIZE / 16 {
        framer.push(b"X-Pad: 01234567\r\n");
    }
    assert!(framer.next_frame().is_err());
    // A Content-Length beyond the limit is refused before buffering.
    let mut framer = StreamFramer::new();
    framer.push(b"INVITE sip:a@b SIP/2.0\r\nContent-Length: 70000\r\n\r\n");
    assert!(framer.next_frame().is_err());
}

fn with_content_length(values: &[&str]) -> Vec<u8> {
    let mut s = INVITE.replace("Content-Length: 138\r\n", "");
    let at = s.find("\r\n\r\n").unwrap() + 2;
    let extra: String = values
        .iter()
        .map(|v| format!("Content-Length: {v}\r\n"))
        .collect();
    s.insert_str(at, &extra);
    s.into_bytes()
}

#[test]
fn bad_content_length() {
    for bad in [
        "abc",
        "-1",
        "-999",
        "+133",
        "1 33",
        "0x85",
        "",
        "18446744073709551616",
        "99999999999999999999999",
    ] {
        let msg = with_content_length(&[bad]);
        assert!(
            matches!(parse(&msg), Err(ParseError::BadContentLength(_))),
            "Content-Length {bad:?}: {:?}",
            parse(&msg)
        );
        no_panic(&msg);
        let mut framer = StreamFramer::new();
        framer.push(&msg);
        assert!(framer.next_frame().is_err(), "framer accepted {bad:?}");
    }
    // Larger than what arrived.
    for n in ["139", "1000", "65535", "18446744073709551615"] {
        let msg = with_content_length(&[n]);
        assert!(
            matches!(parse(&msg), Err(ParseError::BodyTruncated { got: 138, .. })),
            "{n}: {:?}",
            parse(&msg)
        );
        no_panic(&msg);
    }
    // Duplicates: equal values are harmless, different ones cannot frame.
    assert!(parse(&with_content_length(&["138", "138"])).is_ok());
    assert!(matches!(
        parse(&with_content_length(&["138", "13"])),
        Err(ParseError::BadContentLength(_))
    ));
    // Shorter than the body: the rest is ignored (RFC 3261 18.3).
    let short = parse(&with_content_length(&["3"])).unwrap();
    assert_eq!(&short.as_request().unwrap().body[..], b"v=0");
    // Leading zeros and surrounding spaces are fine.
    assert!(parse(&with_content_length(&["  0138  "])).is_ok());
}

#[test]
fn table_of_bad_inputs() {
    fn header_err(reason: &'static str) -> impl Fn(&Result<SipMessage, ParseError>) -> bool {
        move |r: &Result<SipMessage, ParseError>| matches!(r, Err(ParseError::HeaderLine { reason: got, .. }) if *got == reason)
    }
    type Check = Box<dyn Fn(&Result<SipMessage, ParseError>) -> bool>;
    let cases: Vec<(&str, Vec<u8>, Check)> = vec![
        (
            "empty",
            b"".to_vec(),
            Box::new(|r| r == &Err(ParseError::Empty)),
        ),
        (
            "only CRLFs",
            b"\r\n\r\n\r\n".to_vec(),
            Box::new(|r| r == &Err(ParseError::Empty)),
        ),
        (
            "binary garbage",
            (0..=255u8).cycle().take(4000).collect(),
            Box::new(|r| r.is_err()),
        ),
        ("all 0xff", vec![0xff; 2048], Box::new(|r| r.is_err())),
        ("NUL only", vec![0; 512], Box::new(|r| r.is_err())),
        (
            "NUL in method",
            INVITE.replacen("INVITE", "INV\0TE", 1).into_bytes(),
            Box::new(|r| matches!(r, Err(ParseError::BadMethod(_)))),
        ),
        (
            "NUL in header name",
            INVITE
                .replacen("Max-Forwards", "Max\0Forwards", 1)
                .into_bytes(),
            Box::new(header_err("control character in header")),
        ),
        (
            "raw NUL in a header value",
            INVITE
                .replacen("CSeq: 1 INVITE", "CSeq: 1 INVITE\r\nX-Nul: a\0b", 1)
                .into_bytes(),
            Box::new(header_err("control character in header")),
        ),
        (
            "escaped NUL in a quoted string is kept",
            INVITE.replacen("\"Kuulo\"", "\"Ku\\\0lo\"", 1).into_bytes(),
            Box::new(|r| {
                r.as_ref().is_ok_and(|m| {
                    m.as_request()
                        .unwrap()
                        .from_header()
                        .unwrap()
                        .display
                        .as_deref()
                        == Some("Ku\0lo")
                })
            }),
        ),
        (
            "lone CR inside a header",
            INVITE
                .replacen("Max-Forwards: 70", "Max-Forwards: 7\r0", 1)
                .into_bytes(),
            Box::new(header_err("control character in header")),
        ),
        (
            "invalid UTF-8 in a header",
            INVITE
                .replacen("Kuulo", "Ku\u{1}lo", 1)
                .into_bytes()
                .into_iter()
                .map(|b| if b == 1 { 0xc3 } else { b })
                .collect(),
            Box::new(|r| r == &Err(ParseError::NotUtf8)),
        ),
        (
            "invalid UTF-8 in the start line",
            [b"INVITE sip:\xff@b SIP/2.0\r\n".as_slice(), b"l: 0\r\n\r\n"].concat(),
            Box::new(|r| r == &Err(ParseError::NotUtf8)),
        ),
        (
            "binary body is fine",
            [
                INVITE
                    .replace("Content-Length: 138", "Content-Length: 4")
                    .split("\r\n\r\n")
                    .next()
                    .unwrap()
                    .as_bytes(),
                b"\r\n\r\n\xff\0\xfe\x80",
            ]
            .concat(),
            Box::new(|r| {
                r.as_ref()
                    .is_ok_and(|m| &m.as_request().unwrap().body[..] == b"\xff\0\xfe\x80")
            }),
        ),
        (
            // Found by the fuzzer: a multi-byte character across byte 4
            // of the start line.
            "non-ASCII start line",
            " но сто\r\nl: 0\r\n\r\n".as_bytes().to_vec(),
            Box::new(|r| matches!(r, Err(ParseError::BadVersion(_)))),
        ),
        (
            "header without colon",
            INVITE
                .replacen("Max-Forwards: 70", "Max-Forwards 70", 1)
                .into_bytes(),
            Box::new(header_err("no colon")),
        ),
        (
            "empty header name",
            INVITE.replacen("Max-Forwards: 70", ": 70", 1).into_bytes(),
            Box::new(header_err("invalid header name")),
        ),
        (
            "space inside a header name",
            INVITE
                .replacen("Max-Forwards: 70", "Max Forwards: 70", 1)
                .into_bytes(),
            Box::new(header_err("invalid header name")),
        ),
        (
            "continuation before any header",
            INVITE
                .replacen("\r\nVia:", "\r\n folded\r\nVia:", 1)
                .into_bytes(),
            Box::new(header_err("continuation line before any header")),
        ),
        (
            "no empty line",
            INVITE.split("\r\n\r\n").next().unwrap().as_bytes().to_vec(),
            Box::new(|r| r == &Err(ParseError::Unterminated)),
        ),
        (
            "request line with two tokens",
            b"INVITE sip:a@b\r\nl: 0\r\n\r\n".to_vec(),
            Box::new(|r| matches!(r, Err(ParseError::BadVersion(_) | ParseError::StartLine(_)))),
        ),
        (
            "HTTP request",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            Box::new(|r| matches!(r, Err(ParseError::BadVersion(_)))),
        ),
        (
            "status 99",
            b"SIP/2.0 099 Low\r\nl: 0\r\n\r\n".to_vec(),
            Box::new(|r| matches!(r, Err(ParseError::BadStatus(_)))),
        ),
        (
            "status 700",
            b"SIP/2.0 700 High\r\nl: 0\r\n\r\n".to_vec(),
            Box::new(|r| matches!(r, Err(ParseError::BadStatus(_)))),
        ),
        (
            "status without reason or space",
            b"SIP/2.0 200\r\nl: 0\r\n\r\n".to_vec(),
            Box::new(|r| {
                r.as_ref()
                    .is_ok_and(|m| m.as_response().unwrap().status == 200)
            }),
        ),
        (
            "bad port in Request-URI",
            b"INVITE sip:a@b:99999 SIP/2.0\r\nl: 0\r\n\r\n".to_vec(),
            Box::new(|r| matches!(r, Err(ParseError::RequestUri(_)))),
        ),
        (
            "bad escape in Request-URI",
            b"INVITE sip:a%zz@b SIP/2.0\r\nl: 0\r\n\r\n".to_vec(),
            Box::new(|r| matches!(r, Err(ParseError::RequestUri(_)))),
        ),
        (
            "bare LF line ends are tolerated",
            INVITE
                .replace("\r\n", "\n")
                .replace("Content-Length: 138", "Content-Length: 131")
                .into_bytes(),
            Box::new(|r| {
                r.as_ref()
                    .is_ok_and(|m| m.as_request().unwrap().body.len() == 131)
            }),
        ),
    ];
    for (name, bytes, check) in cases {
        let result = parse(&bytes);
        assert!(check(&result), "{name}: {result:?}");
        no_panic(&bytes);
    }
}

#[test]
fn missing_mandatory_headers_are_typed() {
    let strip = |name: &str| -> SipMessage {
        let text: String = INVITE
            .split_inclusive("\r\n")
            .filter(|line| !line.starts_with(name))
            .collect();
        parse(text.as_bytes()).unwrap()
    };
    let m = strip("Call-ID");
    assert_eq!(
        m.as_request().unwrap().call_id(),
        Err(HeaderError::Missing("Call-ID"))
    );
    let m = strip("Via");
    assert_eq!(
        m.as_request().unwrap().top_via(),
        Err(HeaderError::Missing("Via"))
    );
    assert_eq!(m.as_request().unwrap().vias(), Ok(vec![]));
    let m = strip("From");
    assert_eq!(
        m.as_request().unwrap().from_header(),
        Err(HeaderError::Missing("From"))
    );
    let m = strip("To");
    assert_eq!(
        m.as_request().unwrap().to_header(),
        Err(HeaderError::Missing("To"))
    );
    let m = strip("CSeq");
    assert_eq!(
        m.as_request().unwrap().cseq(),
        Err(HeaderError::Missing("CSeq"))
    );
    let m = strip("Max-Forwards");
    assert_eq!(m.as_request().unwrap().max_forwards(), Ok(None));
    // An empty Call-ID is as good as none.
    let m = parse(
        INVITE
            .replace("Call-ID: 3848276298220188511@192.0.2.20", "Call-ID:")
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(
        m.as_request().unwrap().call_id(),
        Err(HeaderError::Missing("Call-ID"))
    );
}

#[test]
fn invalid_typed_values() {
    let with = |from: &str, to: &str| parse(INVITE.replacen(from, to, 1).as_bytes()).unwrap();
    let r = with("CSeq: 1 INVITE", "CSeq: -1 INVITE");
    assert!(matches!(
        r.as_request().unwrap().cseq(),
        Err(HeaderError::Invalid { .. })
    ));
    let r = with("CSeq: 1 INVITE", "CSeq: 2147483648 INVITE");
    assert!(matches!(
        r.as_request().unwrap().cseq(),
        Err(HeaderError::Invalid { .. })
    ));
    let r = with("Max-Forwards: 70", "Max-Forwards: 4294967296");
    assert!(matches!(
        r.as_request().unwrap().max_forwards(),
        Err(HeaderError::Invalid { .. })
    ));
    let r = with("Max-Forwards: 70", "Max-Forwards: +70");
    assert!(matches!(
        r.as_request().unwrap().max_forwards(),
        Err(HeaderError::Invalid { .. })
    ));
    let r = with(
        "SIP/2.0/UDP 192.0.2.20:5060",
        "SIP/2.0/UDP 192.0.2.20:70000",
    );
    assert!(matches!(
        r.as_request().unwrap().top_via(),
        Err(HeaderError::Invalid { .. })
    ));
    let r = with("<sip:kuulo@example.fi>", "<sip:kuulo@example.fi");
    assert!(matches!(
        r.as_request().unwrap().from_header(),
        Err(HeaderError::Invalid { .. })
    ));
    let r = with("<sip:kuulo@example.fi>", "<sip:kuulo@exa mple.fi>");
    assert!(r.as_request().unwrap().from_header().is_err());
}

#[test]
fn next_good_message_on_a_stream_after_garbage_frames() {
    // A stream that carries a bad frame (valid framing, bad content) then a
    // good one: the bad one fails to parse, the good one still does.
    let bad = b"INVITE sip:a@b SIP/7.0\r\nContent-Length: 2\r\n\r\nhi";
    let mut framer = StreamFramer::new();
    framer.push(bad);
    framer.push(INVITE.as_bytes());
    let first = framer.next_frame().unwrap().unwrap();
    assert!(SipMessage::parse(first).is_err());
    let second = framer.next_frame().unwrap().unwrap();
    assert!(SipMessage::parse(second).is_ok());
}

// ------------------------------------------------------------- properties

/// Upper- and lower-cases the letters of `name` by the bits of `mask`.
fn scramble_case(name: &str, mask: u64) -> String {
    name.chars()
        .enumerate()
        .map(|(i, c)| {
            if mask >> (i % 64) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9.!%*_+`'~-]{0,15}"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9-]{0,10}){0,3}",
        any::<[u8; 4]>().prop_map(|o| format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3])),
        any::<[u16; 8]>().prop_map(|s| format!("[{}]", std::net::Ipv6Addr::from(s))),
    ]
}

#[derive(Debug, Clone)]
struct GenRequest {
    method: String,
    user: Option<String>,
    host: String,
    port: Option<u16>,
    transport: Option<&'static str>,
    branch: String,
    from_tag: String,
    call_id: String,
    cseq: u32,
    extra: Vec<(String, String)>,
    masks: Vec<u64>,
    compact: Vec<bool>,
    body: Vec<u8>,
}

fn gen_request() -> impl Strategy<Value = GenRequest> {
    (
        prop_oneof![
            Just("INVITE".to_string()),
            Just("BYE".to_string()),
            Just("OPTIONS".to_string()),
            Just("REGISTER".to_string()),
            "[A-Z]{3,12}",
        ],
        proptest::option::of("[a-zA-Z0-9_.!~*'()&=+$,;?/-]{1,12}|%[0-9A-F]{2}[a-z]{1,4}"),
        host(),
        (
            proptest::option::of(any::<u16>()),
            proptest::option::of(prop_oneof![Just("udp"), Just("tcp"), Just("tls")]),
        ),
        token(),
        token(),
        "[a-zA-Z0-9.!%*_+`'~()<>:\\\\\"/\\[\\]?{}-]{1,30}(@[a-z0-9.]{1,20})?",
        0u32..(1 << 31),
        proptest::collection::vec(("X-[A-Za-z0-9-]{1,12}", "[ -~]{0,40}"), 0..6),
        proptest::collection::vec(any::<u64>(), 8),
        proptest::collection::vec(any::<bool>(), 8),
        proptest::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(
            |(
                method,
                user,
                host,
                (port, transport),
                branch,
                from_tag,
                call_id,
                cseq,
                extra,
                masks,
                compact,
                body,
            )| {
                GenRequest {
                    method,
                    user,
                    host,
                    port,
                    transport,
                    branch,
                    from_tag,
                    call_id,
                    cseq,
                    extra,
                    masks,
                    compact,
                    body,
                }
            },
        )
}

impl GenRequest {
    fn uri(&self) -> String {
        let mut uri = String::from("sip:");
        if let Some(u) = &self.user {
            uri.push_str(u);
            uri.push('@');
        }
        uri.push_str(&self.host);
        if let Some(p) = self.port {
            uri.push_str(&format!(":{p}"));
        }
        if let Some(t) = self.transport {
            uri.push_str(&format!(";transport={t}"));
        }
        uri
    }

    /// The wire text, with header names in random case and, where one
    /// exists, randomly in compact form.
    fn wire(&self) -> Vec<u8> {
        let name = |i: usize, long: &str, short: Option<&str>| -> String {
            match short {
                Some(s) if self.compact[i] => scramble_case(s, self.masks[i]),
                _ => scramble_case(long, self.masks[i]),
            }
        };
        let mut s = format!("{} {} SIP/2.0\r\n", self.method, self.uri());
        s += &format!(
            "{}: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK{}\r\n",
            name(0, "Via", Some("v")),
            self.branch
        );
        s += &format!(
            "{}: \"Caller\" <sip:caller@example.com>;tag={}\r\n",
            name(1, "From", Some("f")),
            self.from_tag
        );
        s += &format!("{}: <{}>\r\n", name(2, "To", Some("t")), self.uri());
        s += &format!("{}: {}\r\n", name(3, "Call-ID", Some("i")), self.call_id);
        s += &format!(
            "{}: {} {}\r\n",
            name(4, "CSeq", None),
            self.cseq,
            self.method
        );
        s += &format!("{}: 70\r\n", name(5, "Max-Forwards", None));
        for (k, v) in &self.extra {
            s += &format!("{k}: {v}\r\n");
        }
        s += &format!(
            "{}: {}\r\n\r\n",
            name(6, "Content-Length", Some("l")),
            self.body.len()
        );
        let mut bytes = s.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// The semantic content of a message: everything but the order and
/// spelling of header names and the Content-Length header, which
/// serialization regenerates from the body.
fn semantics(m: &SipMessage) -> (String, Vec<(String, Bytes)>, Bytes) {
    let (start, body) = match m {
        SipMessage::Request(r) => (format!("{} {}", r.method, r.uri), r.body.clone()),
        SipMessage::Response(r) => (format!("{} {}", r.status, r.reason), r.body.clone()),
    };
    let headers = m
        .headers()
        .iter()
        .filter(|h| h.name != HeaderName::ContentLength)
        .map(|h| (h.name.as_str().to_ascii_lowercase(), h.value.clone()))
        .collect();
    (start, headers, body)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        no_panic(&bytes);
    }

    #[test]
    fn sip_looking_text_never_panics(text in "(INVITE|SIP/2\\.0|[A-Z]{1,6}) [ -~]{0,40}( SIP/2\\.0)?\r\n(([A-Za-z-]{1,12}|[vfticlm]) ?: ?[ -~]{0,60}\r\n( [ -~]{0,20}\r\n)?){0,12}\r\n[ -~]{0,40}") {
        no_panic(text.as_bytes());
    }

    #[test]
    fn mutations_of_a_good_message_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..12)
    ) {
        let mut bytes = INVITE.as_bytes().to_vec();
        for (at, byte, op) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] = byte,
                1 => { bytes.remove(i); }
                2 => bytes.insert(i, byte),
                _ => {
                    // Duplicate a slice, as a confused proxy might.
                    let end = (i + byte as usize).min(bytes.len());
                    let piece = bytes[i..end].to_vec();
                    bytes.splice(i..i, piece);
                }
            }
        }
        no_panic(&bytes);
    }

    #[test]
    fn generated_requests_round_trip(g in gen_request()) {
        let wire = g.wire();
        let first = parse(&wire).expect("generated request parses");
        let req = first.as_request().unwrap();
        prop_assert_eq!(req.method.as_str(), g.method.as_str());
        let uri = req.uri.as_sip().unwrap();
        prop_assert_eq!(uri.user.as_deref(), g.user.as_deref());
        prop_assert_eq!(uri.port, g.port);
        prop_assert_eq!(uri.param("transport"), g.transport);
        prop_assert_eq!(req.call_id().unwrap(), g.call_id.as_str());
        let cseq = req.cseq().unwrap();
        prop_assert_eq!(cseq.seq, g.cseq);
        prop_assert_eq!(&cseq.method, &req.method);
        let branch = format!("z9hG4bK{}", g.branch);
        let via = req.top_via().unwrap();
        prop_assert_eq!(via.branch(), Some(branch.as_str()));
        let from = req.from_header().unwrap();
        prop_assert_eq!(from.tag(), Some(g.from_tag.as_str()));
        prop_assert_eq!(&req.body[..], &g.body[..]);

        let second = SipMessage::parse(first.to_bytes()).expect("serialized request parses");
        prop_assert_eq!(semantics(&first), semantics(&second));
        // After one round the form is canonical: a second round is exact.
        let third = SipMessage::parse(second.to_bytes()).unwrap();
        prop_assert_eq!(&third, &second);
        prop_assert_eq!(third.to_bytes(), second.to_bytes());
    }

    #[test]
    fn built_requests_round_trip(
        user in proptest::option::of("[a-z0-9]{1,10}"),
        host in host(),
        port in proptest::option::of(1u16..),
        call_id in "[a-z0-9]{4,20}",
        seq in 1u32..(1 << 31),
        body in proptest::collection::vec(any::<u8>(), 0..100),
    ) {
        let parsed_host = match parse(format!("OPTIONS sip:{host} SIP/2.0\r\nl: 0\r\n\r\n").as_bytes()) {
            Ok(SipMessage::Request(r)) => r.uri.as_sip().unwrap().host.clone(),
            other => panic!("{other:?}"),
        };
        let mut req = Request::new(
            Method::Bye,
            Uri::Sip(SipUri::new(user.as_deref(), parsed_host.clone(), port)),
        );
        req.headers.push("Via", "SIP/2.0/TCP 10.0.0.1;branch=z9hG4bKabc");
        req.headers.push("Call-ID", call_id.clone());
        req.headers.push("CSeq", format!("{seq} BYE"));
        req.body = Bytes::from(body.clone());
        let msg = SipMessage::parse(req.to_bytes()).unwrap();
        let back = msg.as_request().unwrap();
        prop_assert_eq!(&back.uri, &req.uri);
        prop_assert_eq!(back.call_id().unwrap(), call_id.as_str());
        prop_assert_eq!(back.cseq().unwrap().seq, seq);
        prop_assert_eq!(&back.body[..], &body[..]);
    }
}
