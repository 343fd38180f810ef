//! On valid messages that both parsers accept, Kuulo's message layer and
//! rsip (a dev-dependency) must agree on every value the transaction and
//! dialog layers use.

use bytes::Bytes;
use kuulo_sip::message::{HeaderAccess, SipMessage, Uri};
use rsip::prelude::*;

const INVITE: &str = "INVITE sip:+358401234567@example.fi SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK74bf9a8f;rport\r\n\
Via: SIP/2.0/TCP proxy.example.fi;branch=z9hG4bKproxy1\r\n\
Max-Forwards: 70\r\n\
From: \"Kuulo survey\" <sip:kuulo@example.fi>;tag=9fxced76sl\r\n\
To: <sip:+358401234567@example.fi>\r\n\
Call-ID: 3848276298220188511@192.0.2.20\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:kuulo@192.0.2.20:5060>\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n\
Supported: timer\r\n\
User-Agent: kuulo/0.1\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 173\r\n\
\r\n\
v=0\r\n\
o=kuulo 2890844526 2890844526 IN IP4 192.0.2.20\r\n\
s=-\r\n\
c=IN IP4 192.0.2.20\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 0 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n";

const OK_200: &str = "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK74bf9a8f;rport=5060;received=192.0.2.20\r\n\
From: \"Kuulo survey\" <sip:kuulo@example.fi>;tag=9fxced76sl\r\n\
To: <sip:+358401234567@example.fi>;tag=8321234356\r\n\
Call-ID: 3848276298220188511@192.0.2.20\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:+358401234567@192.0.2.30:5060>\r\n\
Record-Route: <sip:proxy.example.fi;lr>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 137\r\n\
\r\n\
v=0\r\n\
o=pbx 1234 1234 IN IP4 192.0.2.30\r\n\
s=-\r\n\
c=IN IP4 192.0.2.30\r\n\
t=0 0\r\n\
m=audio 30000 RTP/AVP 0 101\r\n\
a=rtpmap:101 telephone-event/8000\r\n";

const BYE: &str = "BYE sip:+358401234567@192.0.2.30:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKbye77;rport\r\n\
Max-Forwards: 70\r\n\
Route: <sip:proxy.example.fi;lr>\r\n\
From: <sip:kuulo@example.fi>;tag=9fxced76sl\r\n\
To: <sip:+358401234567@example.fi>;tag=8321234356\r\n\
Call-ID: 3848276298220188511@192.0.2.20\r\n\
CSeq: 2 BYE\r\n\
Content-Length: 0\r\n\
\r\n";

const REGISTER: &str = "REGISTER sip:example.fi SIP/2.0\r\n\
Via: SIP/2.0/TCP 192.0.2.20:5060;branch=z9hG4bKnashds7\r\n\
Max-Forwards: 70\r\n\
From: <sip:kuulo@example.fi>;tag=a73kszlfl\r\n\
To: <sip:kuulo@example.fi>\r\n\
Call-ID: 1j9FpLxk3uxtm8tn@192.0.2.20\r\n\
CSeq: 2 REGISTER\r\n\
Contact: <sip:kuulo@192.0.2.20:5060;transport=tcp>;expires=3600\r\n\
Authorization: Digest username=\"kuulo\", realm=\"example.fi\", \
nonce=\"ea9c8e88df84f1cec4341ae6cbe5a359\", uri=\"sip:example.fi\", \
response=\"dfe56131d1958046689d83306477ecc\", algorithm=MD5, qop=auth, \
nc=00000001, cnonce=\"0a4f113b\"\r\n\
Expires: 3600\r\n\
Content-Length: 0\r\n\
\r\n";

const OPTIONS: &str = "OPTIONS sip:survey@127.0.0.1:5080 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
From: <sip:probe@127.0.0.1>;tag=1928301774\r\n\
To: <sip:survey@127.0.0.1>\r\n\
Call-ID: a84b4c76e66710@127.0.0.1\r\n\
CSeq: 63104 OPTIONS\r\n\
Accept: application/sdp\r\n\
Content-Length: 0\r\n\
\r\n";

/// Call-ID, CSeq, From tag, To tag, top branch, Content-Length.
type Common = (
    String,
    (u32, String),
    Option<String>,
    Option<String>,
    Option<String>,
    Option<u32>,
);

/// The values both must agree on, in a neutral form.
#[derive(Debug, PartialEq)]
struct Summary {
    method_or_status: String,
    request_uri: Option<(Option<String>, String, Option<u16>)>,
    call_id: String,
    cseq: (u32, String),
    from_tag: Option<String>,
    to_tag: Option<String>,
    top_branch: Option<String>,
    content_length: Option<u32>,
    body: Vec<u8>,
}

fn ours(wire: &str) -> Summary {
    let msg = SipMessage::parse(Bytes::copy_from_slice(wire.as_bytes())).expect("kuulo parses");
    fn common(m: &impl HeaderAccess) -> Common {
        let cseq = m.cseq().unwrap();
        // The borrowed fast paths read the same as the typed values.
        assert_eq!(m.top_via_branch(), m.top_via().unwrap().branch());
        assert_eq!(m.from_tag(), m.from_header().unwrap().tag());
        assert_eq!(m.to_tag(), m.to_header().unwrap().tag());
        (
            m.call_id().unwrap().to_string(),
            (cseq.seq, cseq.method.to_string()),
            m.from_header().unwrap().tag().map(str::to_string),
            m.to_header().unwrap().tag().map(str::to_string),
            m.top_via().unwrap().branch().map(str::to_string),
            m.content_length().unwrap(),
        )
    }
    let (method_or_status, request_uri, common, body) = match &msg {
        SipMessage::Request(r) => {
            let Uri::Sip(uri) = &r.uri else {
                panic!("sip URI expected")
            };
            (
                r.method.to_string(),
                Some((uri.user.clone(), uri.host.to_string(), uri.port)),
                common(r),
                r.body.to_vec(),
            )
        }
        SipMessage::Response(r) => (r.status.to_string(), None, common(r), r.body.to_vec()),
    };
    let (call_id, cseq, from_tag, to_tag, top_branch, content_length) = common;
    Summary {
        method_or_status,
        request_uri,
        call_id,
        cseq,
        from_tag,
        to_tag,
        top_branch,
        content_length,
        body,
    }
}

fn theirs(wire: &str) -> Summary {
    let msg = rsip::SipMessage::try_from(wire).expect("rsip parses");
    let (method_or_status, request_uri) = match &msg {
        rsip::SipMessage::Request(r) => {
            let hp = &r.uri.host_with_port;
            (
                r.method.to_string(),
                Some((
                    r.uri.user().map(str::to_string),
                    hp.host.to_string(),
                    hp.port.map(|p| *p.value()),
                )),
            )
        }
        rsip::SipMessage::Response(r) => (r.status_code.code().to_string(), None),
    };
    let cseq = msg.cseq_header().unwrap().typed().unwrap();
    let content_length = msg.headers().iter().find_map(|h| match h {
        rsip::Header::ContentLength(l) => Some(l.length().unwrap()),
        _ => None,
    });
    Summary {
        method_or_status,
        request_uri,
        call_id: msg.call_id_header().unwrap().value().to_string(),
        cseq: (cseq.seq, cseq.method.to_string()),
        from_tag: msg
            .from_header()
            .unwrap()
            .tag()
            .unwrap()
            .map(|t| t.value().to_string()),
        to_tag: msg
            .to_header()
            .unwrap()
            .tag()
            .unwrap()
            .map(|t| t.value().to_string()),
        top_branch: msg
            .via_header()
            .unwrap()
            .typed()
            .unwrap()
            .branch()
            .map(|b| b.value().to_string()),
        content_length,
        body: msg.body().clone(),
    }
}

#[test]
fn both_parsers_agree_on_valid_messages() {
    for (name, wire) in [
        ("INVITE", INVITE),
        ("200 OK", OK_200),
        ("BYE", BYE),
        ("REGISTER", REGISTER),
        ("OPTIONS", OPTIONS),
    ] {
        let a = ours(wire);
        let b = theirs(wire);
        assert_eq!(a, b, "{name}: kuulo and rsip disagree");
        // And the values are what the message says, not an agreed mistake.
        assert!(
            a.top_branch
                .as_deref()
                .is_some_and(|b| b.starts_with("z9hG4bK")),
            "{name}"
        );
        assert_eq!(a.content_length, Some(a.body.len() as u32), "{name}");
    }
}

#[test]
fn rsip_reads_what_we_serialize() {
    for wire in [INVITE, OK_200, BYE, REGISTER, OPTIONS] {
        let ours_msg = SipMessage::parse(Bytes::copy_from_slice(wire.as_bytes())).unwrap();
        let reserialized = ours_msg.to_bytes();
        let text = std::str::from_utf8(&reserialized).unwrap();
        assert_eq!(theirs(text), ours(wire));
    }
}
