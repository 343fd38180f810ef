//! SDP parse/serialize and RFC 3264 offer/answer.

use kuulo_media::sdp::{
    accept_answer, answer_offer, build_offer, AddrType, Attribute, AudioCodec, Connection,
    Direction, Line, MediaConfig, MediaDescription, NegotiationError, Origin, RtpMap, SdpError,
    SessionDescription,
};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Shaped like a desk phone's INVITE: session-level c=, telephone-event,
/// ptime, a codec we do not support first, and an attribute we do not know.
const PHONE_OFFER: &str = "v=0\r\n\
o=- 1700000000 1700000001 IN IP4 192.0.2.55\r\n\
s=SIP Call\r\n\
c=IN IP4 192.0.2.55\r\n\
b=AS:84\r\n\
t=0 0\r\n\
m=audio 11780 RTP/AVP 9 8 0 18 101\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:18 G729/8000\r\n\
a=fmtp:18 annexb=no\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n\
a=rtcp:11781\r\n";

/// A softphone on IPv6 with Opus first, media-level c= and two streams.
const SOFTPHONE_OFFER: &str = "v=0\n\
o=alice 2890844526 2890844526 IN IP6 2001:db8::10\n\
s=-\n\
t=0 0\n\
a=sendonly\n\
m=audio 50000 RTP/AVP 96 97 0 98\n\
c=IN IP6 2001:db8::10\n\
a=rtpmap:96 opus/48000/2\n\
a=fmtp:96 useinbandfec=1\n\
a=rtpmap:97 telephone-event/48000\n\
a=rtpmap:98 telephone-event/8000\n\
m=video 50002 RTP/AVP 31\n\
c=IN IP6 2001:db8::10\n\
a=rtpmap:31 H261/90000\n";

fn cfg() -> MediaConfig {
    let mut c = MediaConfig::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)), 40000);
    c.session_id = 42;
    c.session_version = 1;
    c
}

#[test]
fn parses_a_phone_offer() {
    let sdp = SessionDescription::parse(PHONE_OFFER.as_bytes()).unwrap();
    assert_eq!(sdp.origin.session_version, "1700000001");
    assert_eq!(sdp.session_name, "SIP Call");
    let c = sdp.connection.as_ref().unwrap();
    assert_eq!(c.ip(), Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 55))));
    assert_eq!(
        sdp.other_lines,
        vec![Line {
            kind: 'b',
            value: "AS:84".into()
        }]
    );
    let m = &sdp.media[0];
    assert_eq!(m.port, 11780);
    assert_eq!(
        m.payload_types().collect::<Vec<_>>(),
        vec![9, 8, 0, 18, 101]
    );
    assert_eq!(m.rtpmap(101).unwrap().encoding, "telephone-event");
    assert_eq!(m.fmtp(18), Some("annexb=no"));
    assert_eq!(m.ptime(), Some(20));
    assert_eq!(sdp.media_direction(0), Direction::SendRecv);
    assert!(m.attributes.contains(&Attribute::Other {
        name: "rtcp".into(),
        value: Some("11781".into())
    }));
}

#[test]
fn a_30_ms_offer_with_maxptime_is_carried_to_the_session() {
    // An Asterisk-style offer: A-law at 30 ms, and the longest packet it takes.
    let offer = PHONE_OFFER.replace("a=ptime:20", "a=ptime:30\r\na=maxptime:150");
    let offer: SessionDescription = offer.parse().unwrap();
    assert_eq!(offer.media[0].maxptime(), Some(150));
    let (answer, n) = answer_offer(&offer, &cfg()).unwrap();
    assert_eq!((n.remote_ptime, n.remote_maxptime), (Some(30), Some(150)));
    // We still ask for 20 ms ourselves (RFC 3264 6.1: the answerer states
    // its own ptime).
    assert_eq!(answer.media[0].ptime(), Some(20));
    assert_eq!(
        kuulo_media::session::SessionConfig::new(&n, 1).send_ptime,
        30
    );
}

#[test]
fn serializes_back_to_the_same_text() {
    let sdp: SessionDescription = PHONE_OFFER.parse().unwrap();
    assert_eq!(sdp.to_string(), PHONE_OFFER);
    let soft: SessionDescription = SOFTPHONE_OFFER.parse().unwrap();
    assert_eq!(soft.to_string(), SOFTPHONE_OFFER.replace('\n', "\r\n"));
}

#[test]
fn answers_with_the_offerers_first_supported_codec() {
    let offer: SessionDescription = PHONE_OFFER.parse().unwrap();
    let (answer, n) = answer_offer(&offer, &cfg()).unwrap();
    // G722 is first but unsupported; PCMA comes before PCMU in the offer.
    assert_eq!((n.codec, n.payload_type), (AudioCodec::Pcma, 8));
    assert_eq!(n.telephone_event, Some(101));
    assert_eq!(n.remote, "192.0.2.55:11780".parse::<SocketAddr>().unwrap());
    assert_eq!(n.direction, Direction::SendRecv);
    assert_eq!(n.remote_ptime, Some(20));
    let text = answer.to_string();
    let expected =
        "v=0\r\no=- 42 1 IN IP4 198.51.100.7\r\ns=kuulo\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n\
m=audio 40000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n";
    assert_eq!(text, expected);
    // The answer is itself valid SDP.
    assert_eq!(SessionDescription::parse(text.as_bytes()).unwrap(), answer);
}

#[test]
fn answers_opus_with_48k_events_and_rejects_video() {
    let offer: SessionDescription = SOFTPHONE_OFFER.parse().unwrap();
    let (answer, n) = answer_offer(&offer, &cfg()).unwrap();
    assert_eq!((n.codec, n.payload_type), (AudioCodec::Opus, 96));
    assert_eq!(n.telephone_event, Some(97));
    assert_eq!(
        n.remote,
        SocketAddr::new(
            IpAddr::V6("2001:db8::10".parse::<Ipv6Addr>().unwrap()),
            50000
        )
    );
    // They only send (session-level sendonly), so we only receive.
    assert_eq!(n.direction, Direction::RecvOnly);
    assert_eq!(answer.media.len(), 2);
    assert_eq!(answer.media[0].direction(), Some(Direction::RecvOnly));
    assert_eq!(answer.media[1].port, 0);
    assert_eq!(answer.media[1].formats, vec!["31".to_string()]);
    assert_eq!(answer.media[0].rtpmap(96).unwrap().channels, Some(2));
}

/// baresip's offer: Opus first, telephone-event only at 8 kHz.
const OPUS_FIRST_EVENTS_AT_8K: &str =
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n\
t=0 0\r\nm=audio 10000 RTP/AVP 96 0 8 101\r\na=rtpmap:96 opus/48000/2\r\n\
a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n";

#[test]
fn a_codec_with_telephone_events_wins_over_an_earlier_one_without() {
    let offer: SessionDescription = OPUS_FIRST_EVENTS_AT_8K.parse().unwrap();
    let (answer, n) = answer_offer(&offer, &cfg()).unwrap();
    assert_eq!((n.codec, n.payload_type), (AudioCodec::Pcmu, 0));
    assert_eq!(n.telephone_event, Some(101));
    assert_eq!(answer.media[0].formats, vec!["0", "101"]);

    // With events at 48 kHz too, the offerer's first choice stands.
    let both = OPUS_FIRST_EVENTS_AT_8K.replace("RTP/AVP 96 0 8 101", "RTP/AVP 96 0 8 101 97")
        + "a=rtpmap:97 telephone-event/48000\r\n";
    let (_, n) = answer_offer(&both.parse().unwrap(), &cfg()).unwrap();
    assert_eq!((n.codec, n.telephone_event), (AudioCodec::Opus, Some(97)));

    // Without telephone-event on our side, the offerer's order alone.
    let mut no_events = cfg();
    no_events.telephone_event = false;
    let (_, n) = answer_offer(&offer, &no_events).unwrap();
    assert_eq!((n.codec, n.telephone_event), (AudioCodec::Opus, None));
}

#[test]
fn telephone_event_must_match_the_codec_clock() {
    let offer = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0 97\r\na=rtpmap:97 telephone-event/48000\r\n";
    let (_, n) = answer_offer(&offer.parse().unwrap(), &cfg()).unwrap();
    assert_eq!((n.codec, n.telephone_event), (AudioCodec::Pcmu, None));
}

#[test]
fn mirrors_every_direction() {
    for (offered, ours) in [
        ("sendrecv", Direction::SendRecv),
        ("sendonly", Direction::RecvOnly),
        ("recvonly", Direction::SendOnly),
        ("inactive", Direction::Inactive),
    ] {
        let offer = format!(
            "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0\r\na={offered}\r\n"
        );
        let (answer, n) = answer_offer(&offer.parse().unwrap(), &cfg()).unwrap();
        assert_eq!(n.direction, ours, "{offered}");
        assert_eq!(answer.media_direction(0), ours, "{offered}");
    }
    let mut send_only = cfg();
    send_only.direction = Direction::SendOnly;
    let offer = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    let (_, n) = answer_offer(&offer.parse().unwrap(), &send_only).unwrap();
    assert_eq!(n.direction, Direction::SendOnly);
}

#[test]
fn old_style_hold_address_means_we_do_not_send() {
    let offer = "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0\r\n";
    let (answer, n) = answer_offer(&offer.parse().unwrap(), &cfg()).unwrap();
    assert_eq!(n.direction, Direction::RecvOnly);
    assert_eq!(answer.media_direction(0), Direction::RecvOnly);
}

#[test]
fn negotiation_errors() {
    let base = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n";
    let cases: Vec<(String, NegotiationError)> = vec![
        (format!("{base}c=IN IP4 192.0.2.1\r\nm=audio 0 RTP/AVP 0\r\n"), NegotiationError::NoAudio),
        (format!("{base}c=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/SAVP 0\r\n"), NegotiationError::NoAudio),
        (format!("{base}c=IN IP4 192.0.2.1\r\nm=video 4000 RTP/AVP 31\r\n"), NegotiationError::NoAudio),
        (base.to_string(), NegotiationError::NoAudio),
        (
            format!("{base}c=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 18 9 96\r\na=rtpmap:96 opus/48000/1\r\n"),
            NegotiationError::NoCommonCodec { offered: "18 9 96:opus/48000".into() },
        ),
        (format!("{base}m=audio 4000 RTP/AVP 0\r\n"), NegotiationError::BadConnection("no c= line".into())),
        (
            format!("{base}c=IN IP4 pbx.example.com\r\nm=audio 4000 RTP/AVP 0\r\n"),
            NegotiationError::BadConnection("not an IP address: pbx.example.com".into()),
        ),
    ];
    for (sdp, want) in cases {
        let offer: SessionDescription = sdp.parse().unwrap();
        assert_eq!(answer_offer(&offer, &cfg()).unwrap_err(), want, "{sdp}");
        assert!(want.to_string().len() > 20);
    }
}

#[test]
fn offer_then_answer_from_a_peer() {
    let offer = build_offer(&cfg());
    let text = offer.to_string();
    assert!(
        text.contains("m=audio 40000 RTP/AVP 0 8 111 101 110\r\n"),
        "{text}"
    );
    assert!(text.contains("a=rtpmap:111 opus/48000/2\r\n"));
    assert!(text.contains("a=rtpmap:110 telephone-event/48000\r\n"));
    // The peer answers with the same engine, preferring PCMA.
    let mut peer = MediaConfig::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9)), 6000);
    peer.codecs = vec![AudioCodec::Pcma];
    let parsed: SessionDescription = text.parse().unwrap();
    let (answer, theirs) = answer_offer(&parsed, &peer).unwrap();
    assert_eq!(theirs.codec, AudioCodec::Pcma);
    assert_eq!(
        theirs.remote,
        "198.51.100.7:40000".parse::<SocketAddr>().unwrap()
    );
    let ours = accept_answer(&offer, &answer.to_string().parse().unwrap()).unwrap();
    assert_eq!(
        (ours.codec, ours.payload_type, ours.telephone_event),
        (AudioCodec::Pcma, 8, Some(101))
    );
    assert_eq!(ours.remote, "192.0.2.9:6000".parse::<SocketAddr>().unwrap());
    assert_eq!(ours.direction, Direction::SendRecv);
    // An answer that rejects the stream, or drops an m-line, is refused.
    let mut rejected = answer.clone();
    rejected.media[0].port = 0;
    assert_eq!(
        accept_answer(&offer, &rejected),
        Err(NegotiationError::NoAudio)
    );
    let mut dropped = answer;
    dropped.media.clear();
    assert!(matches!(
        accept_answer(&offer, &dropped),
        Err(NegotiationError::AnswerMismatch(_))
    ));
}

#[test]
fn rejects_bad_sdp() {
    let head = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n";
    let cases: Vec<(&str, String, &str)> = vec![
        ("empty", String::new(), "SDP is empty"),
        ("blank", "\r\n \r\n".into(), "SDP is empty"),
        (
            "no v",
            "o=- 1 1 IN IP4 1.2.3.4\r\n".into(),
            "SDP must start with a v= line",
        ),
        (
            "v=1",
            "v=1\r\n".into(),
            "SDP line 1: invalid protocol version (0): \"1\"",
        ),
        ("no o", "v=0\r\ns=-\r\n".into(), "SDP has no o= line"),
        (
            "no s",
            "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\n".into(),
            "SDP has no s= line",
        ),
        (
            "garbage line",
            format!("{head}hello\r\n"),
            "SDP line 4 is not of the form <letter>=<value>: \"hello\"",
        ),
        (
            "upper-case type",
            format!("{head}C=IN IP4 1.2.3.4\r\n"),
            "is not of the form",
        ),
        (
            "short o",
            "v=0\r\no=- 1 IN IP4 1.2.3.4\r\n".into(),
            "invalid o= line (6 fields)",
        ),
        (
            "o not IN",
            "v=0\r\no=- 1 1 ATM IP4 1.2.3.4\r\n".into(),
            "invalid o= network type (IN)",
        ),
        (
            "c IP5",
            format!("{head}c=IN IP5 1.2.3.4\r\n"),
            "invalid c= address type (IP4 or IP6)",
        ),
        ("c short", format!("{head}c=IN IP4\r\n"), "invalid c= line"),
        (
            "t text",
            format!("{head}t=now later\r\n"),
            "invalid t= line",
        ),
        (
            "m short",
            format!("{head}m=audio 4000\r\n"),
            "invalid m= line",
        ),
        (
            "m port",
            format!("{head}m=audio 70000 RTP/AVP 0\r\n"),
            "invalid m= port: \"70000\"",
        ),
        (
            "m port count",
            format!("{head}m=audio 4000/x RTP/AVP 0\r\n"),
            "invalid m= port count",
        ),
        (
            "rtpmap pt",
            format!("{head}m=audio 4000 RTP/AVP 0\r\na=rtpmap:200 X/8000\r\n"),
            "invalid payload type (0-127): \"200\"",
        ),
        (
            "rtpmap rate",
            format!("{head}m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/fast\r\n"),
            "invalid rtpmap clock rate",
        ),
        (
            "rtpmap no rate",
            format!("{head}m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU\r\n"),
            "invalid rtpmap clock rate",
        ),
        (
            "rtpmap extra",
            format!("{head}m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000/1/2\r\n"),
            "too many",
        ),
        ("ptime", format!("{head}a=ptime:soon\r\n"), "invalid ptime"),
        (
            "ptime nan",
            format!("{head}a=ptime:NaN\r\n"),
            "invalid ptime",
        ),
        (
            "empty attribute",
            format!("{head}a=\r\n"),
            "invalid attribute name",
        ),
        (
            "o in media",
            format!("{head}m=audio 1 RTP/AVP 0\r\no=- 1 1 IN IP4 1.2.3.4\r\n"),
            "misplaced",
        ),
        (
            "two c in media",
            format!("{head}m=audio 1 RTP/AVP 0\r\nc=IN IP4 1.2.3.4\r\nc=IN IP4 1.2.3.4\r\n"),
            "misplaced",
        ),
        ("two s", format!("{head}s=again\r\n"), "repeated line"),
    ];
    for (name, text, want) in cases {
        let err = text.parse::<SessionDescription>().unwrap_err();
        assert!(err.to_string().contains(want), "{name}: got {err}");
    }
    assert_eq!(
        SessionDescription::parse(b"v=0\r\n\xFF\r\n"),
        Err(SdpError::NotUtf8)
    );
}

#[test]
fn lenient_where_phones_differ() {
    let sdp: SessionDescription = "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=\nm=audio 5000 RTP/AVP 0\nc=IN IP4 192.0.2.1\na=ptime:20.0\na=fmtp:t38 x\nx=unknown\n\n"
        .parse()
        .unwrap();
    assert_eq!(sdp.media[0].ptime(), Some(20));
    assert!(sdp.timing.is_empty());
    assert_eq!(
        sdp.media[0].other_lines[0],
        Line {
            kind: 'x',
            value: "unknown".into()
        }
    );
    assert_eq!(sdp.media_connection(0).unwrap().addr_type, AddrType::Ip4);
}

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9.-]{0,12}"
}

fn media_strategy() -> impl Strategy<Value = MediaDescription> {
    (
        token(),
        any::<u16>(),
        prop::collection::vec(0u8..128, 1..6),
        prop::option::of(any::<[u8; 4]>()),
        prop::collection::vec(
            (0u8..128, token(), 1u32..100_000, prop::option::of(1u16..8)),
            0..4,
        ),
        prop::option::of(1u32..200),
        prop::option::of(prop_oneof![
            Just(Direction::SendRecv),
            Just(Direction::SendOnly),
            Just(Direction::RecvOnly),
            Just(Direction::Inactive)
        ]),
        prop::option::of((token(), prop::option::of("[!-~]{1,20}"))),
    )
        .prop_map(|(media, port, fmts, conn, maps, ptime, dir, other)| {
            let mut attributes: Vec<Attribute> = maps
                .into_iter()
                .map(|(pt, enc, rate, ch)| {
                    Attribute::RtpMap(RtpMap {
                        payload_type: pt,
                        encoding: enc,
                        clock_rate: rate,
                        channels: ch,
                    })
                })
                .collect();
            attributes.extend(ptime.map(Attribute::Ptime));
            attributes.extend(dir.map(Attribute::Direction));
            if let Some((name, value)) = other {
                let is_known = [
                    "rtpmap", "fmtp", "ptime", "sendrecv", "sendonly", "recvonly", "inactive",
                ]
                .contains(&name.as_str());
                if !is_known {
                    attributes.push(Attribute::Other { name, value });
                }
            }
            MediaDescription {
                media,
                port,
                port_count: None,
                protocol: "RTP/AVP".into(),
                formats: fmts.iter().map(u8::to_string).collect(),
                connection: conn.map(|a| Connection::new(IpAddr::V4(Ipv4Addr::from(a)))),
                attributes,
                other_lines: vec![Line {
                    kind: 'i',
                    value: "info".into(),
                }],
            }
        })
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "(v=0\r\n)?([a-z=:/ 0-9.A-Z-]{0,30}\r?\n){0,12}") {
        let _ = text.parse::<SessionDescription>();
    }

    #[test]
    fn arbitrary_bytes_never_panic(buf in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = SessionDescription::parse(&buf);
    }

    #[test]
    fn build_then_parse_round_trips(
        id in any::<u64>(),
        name in "[a-zA-Z0-9 ]{0,20}[a-zA-Z0-9]",
        v6 in any::<[u8; 16]>(),
        media in prop::collection::vec(media_strategy(), 0..4),
        session_dir in prop::option::of(Just(Direction::SendOnly)),
    ) {
        let ip = IpAddr::V6(Ipv6Addr::from(v6));
        let sdp = SessionDescription {
            origin: Origin {
                username: "-".into(),
                session_id: id.to_string(),
                session_version: "1".into(),
                addr_type: AddrType::Ip6,
                address: ip.to_string(),
            },
            session_name: name,
            connection: Some(Connection::new(ip)),
            timing: vec![(0, 0)],
            attributes: session_dir.map(Attribute::Direction).into_iter().collect(),
            other_lines: vec![Line { kind: 'b', value: "AS:64".into() }],
            media,
        };
        let text = sdp.to_string();
        let back: SessionDescription = text.parse().unwrap();
        prop_assert_eq!(&back, &sdp);
        prop_assert_eq!(back.to_string(), text);
        // Whatever we can parse, we can answer or refuse with a typed error.
        let _ = answer_offer(&back, &cfg());
    }
}
