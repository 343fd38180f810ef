//! The messages of RFC 4475 (SIP Torture Test Messages) as a test table.
//!
//! Each message is written as the RFC prints it and turned into wire bytes
//! by [`rfc4475`], which applies the conventions of RFC 4475 section 2:
//! every line ends in CRLF, `<allOneLine>` blocks are joined into one line
//! (2.1), `<hex>..</hex>` stands for raw octets (2.2) and
//! `<repeat count=N>..</repeat>` for a repeated string (2.3).
//!
//! Valid messages (3.1.1) must parse with the values the RFC's commentary
//! points at. Invalid ones either give a typed [`ParseError`], or, where the
//! RFC says the message is well formed but an element must refuse it at a
//! higher layer, parse and expose the typed value or error a UAS uses to
//! answer (416, 420, 483, 501, 505...).

use bytes::Bytes;
use kuulo_sip::message::{
    HeaderAccess, HeaderError, HeaderName, Host, Method, ParseError, SipMessage, Uri, UriError,
};

/// Expands the RFC 4475 section 2 conventions into wire bytes.
fn rfc4475(text: &str) -> Vec<u8> {
    // 2.1: the lines between the tags are concatenated, line breaks dropped.
    const OPEN: &str = "<allOneLine>\n";
    const CLOSE: &str = "\n</allOneLine>\n";
    let mut joined = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(OPEN) {
        joined.push_str(&rest[..i]);
        let after = &rest[i + OPEN.len()..];
        let end = after.find(CLOSE).expect("unterminated <allOneLine>");
        joined.push_str(&after[..end].replace('\n', ""));
        joined.push('\n');
        rest = &after[end + CLOSE.len()..];
    }
    joined.push_str(rest);
    let wire = joined.replace('\n', "\r\n");

    // 2.2 and 2.3: <hex> octets and <repeat> strings.
    let mut out = Vec::with_capacity(wire.len());
    let mut s = wire.as_str();
    loop {
        let hex = s.find("<hex>");
        let rep = s.find("<repeat count=");
        let Some(at) = [hex, rep].into_iter().flatten().min() else {
            out.extend_from_slice(s.as_bytes());
            return out;
        };
        out.extend_from_slice(&s.as_bytes()[..at]);
        if Some(at) == hex {
            let body = &s[at + "<hex>".len()..];
            let end = body.find("</hex>").expect("unterminated <hex>");
            // A long <hex> run is printed over several lines: the line
            // breaks are layout, not octets.
            let digits: Vec<u8> = body[..end]
                .bytes()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            for pair in digits.chunks(2) {
                let pair = std::str::from_utf8(pair).unwrap();
                out.push(u8::from_str_radix(pair, 16).expect("hex digits"));
            }
            s = &body[end + "</hex>".len()..];
        } else {
            let body = &s[at + "<repeat count=".len()..];
            let gt = body.find('>').unwrap();
            let count: usize = body[..gt].parse().unwrap();
            let inner = &body[gt + 1..];
            let end = inner.find("</repeat>").expect("unterminated <repeat>");
            for _ in 0..count {
                out.extend_from_slice(&inner.as_bytes()[..end]);
            }
            s = &inner[end + "</repeat>".len()..];
        }
    }
}

fn parse(text: &str) -> Result<SipMessage, ParseError> {
    SipMessage::parse(Bytes::from(rfc4475(text)))
}

/// What a case must give.
enum Expect {
    /// Parses; the function checks the values that matter.
    Valid(fn(&SipMessage)),
    /// Parses at this layer; the function checks the typed value or error a
    /// UAS (or proxy) uses to reject or special-case it.
    Reject(fn(&SipMessage)),
    /// Refused by the parser with a typed error, checked by the function.
    ParseError(fn(&ParseError)),
}

struct Case {
    section: &'static str,
    name: &'static str,
    text: &'static str,
    expect: Expect,
}

fn sip_user(uri: &Uri) -> String {
    uri.as_sip()
        .and_then(|u| u.user_unescaped())
        .unwrap_or_default()
}

fn body(m: &SipMessage) -> &[u8] {
    match m {
        SipMessage::Request(r) => &r.body,
        SipMessage::Response(r) => &r.body,
    }
}

fn req(m: &SipMessage) -> &kuulo_sip::message::Request {
    m.as_request().expect("a request")
}

fn resp(m: &SipMessage) -> &kuulo_sip::message::Response {
    m.as_response().expect("a response")
}

const SDP_150: &str = "v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
";

static CASES: &[Case] = &[
    // ---------------------------------------------------------------- 3.1.1
    Case {
        // 3.1.1.1 A Short Tortuous INVITE: folding everywhere, escapes in
        // quotes, empty Subject, LWS around separators, comma-separated and
        // separate Via values, short and long names mixed, unknown headers
        // and params, leading zeros in Max-Forwards and CSeq.
        section: "3.1.1.1",
        name: "wsinv",
        text: r##"INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : "J Rosenberg \\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
Content-Length   : 150
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \"\"" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.3
s=-
c=IN IP4 192.0.2.4
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"##,
        expect: Expect::Valid(|m| {
            let r = req(m);
            assert_eq!(r.method, Method::Invite);
            let ruri = r.uri.as_sip().unwrap();
            assert_eq!(ruri.host, Host::Domain("chair-dnrc.example.com".into()));
            assert!(ruri.params.contains("unknownparam"));
            let to = r.to_header().unwrap();
            assert_eq!(to.display, None);
            assert_eq!(to.tag(), Some("1918181833n"));
            assert_eq!(sip_user(&to.uri), "vivekg");
            let from = r.from_header().unwrap();
            assert_eq!(from.display.as_deref(), Some(r#"J Rosenberg \""#));
            assert_eq!(from.tag(), Some("98asjd8"));
            assert_eq!(r.max_forwards().unwrap(), Some(68));
            assert_eq!(r.call_id().unwrap(), "wsinv.ndaksdj@192.0.2.1");
            let cseq = r.cseq().unwrap();
            assert_eq!((cseq.seq, cseq.method), (9, Method::Invite));
            // One Via line plus two comma-separated values in the compact `v`.
            let vias = r.vias().unwrap();
            assert_eq!(vias.len(), 3);
            assert_eq!(r.top_via().unwrap().branch(), Some("390skdjuw"));
            assert_eq!(r.top_via_branch(), Some("390skdjuw"));
            assert_eq!(r.from_tag(), Some("98asjd8"));
            assert_eq!(r.to_tag(), Some("1918181833n"));
            assert_eq!(vias[0].transport, "UDP");
            assert_eq!(vias[0].host, Host::Ipv4([192, 0, 2, 2].into()));
            assert_eq!(vias[1].transport, "TCP");
            assert_eq!(vias[1].host, Host::Domain("spindle.example.com".into()));
            assert_eq!(vias[1].branch(), Some("z9hG4bK9ikj8"));
            assert_eq!(vias[2].host, Host::Ipv4([192, 168, 255, 111].into()));
            assert_eq!(vias[2].branch(), Some("z9hG4bK30239"));
            // The empty, compact-form Subject is present and empty.
            assert_eq!(r.headers.get(&HeaderName::Subject), Some(""));
            // Folded unknown header joined with one space.
            assert_eq!(
                r.headers.get(&HeaderName::from("newfangledheader")),
                Some("newfangled value continued newfangled value")
            );
            assert_eq!(
                r.headers.get(&HeaderName::from("UnknownHeaderWithUnusualValue")),
                Some(";;,,;;,;")
            );
            let routes = r.routes().unwrap();
            assert_eq!(routes.len(), 1);
            assert!(routes[0].uri.as_sip().unwrap().params.contains("lr"));
            let contacts = r.contacts().unwrap();
            assert_eq!(contacts.len(), 1);
            assert_eq!(contacts[0].display.as_deref(), Some(r#"Quoted string """#));
            assert_eq!(contacts[0].params.get("newparam"), Some("newvalue"));
            assert!(contacts[0].params.contains("secondparam"));
            assert_eq!(contacts[0].params.get("q"), Some("0.33"));
            assert_eq!(r.content_type().as_deref(), Some("application/sdp"));
            assert_eq!(r.content_length().unwrap(), Some(150));
            assert_eq!(r.body.len(), 150);
            assert!(r.body.ends_with(b"a=rtpmap:31 LPC\r\n"));
            r.check_single_valued().unwrap();
        }),
    },
    Case {
        // 3.1.1.2 Wide Range of Valid Characters: unusual token characters
        // in the method, Request-URI user and password, branch, display
        // names, parameters, Call-ID (word) and an extension header name.
        section: "3.1.1.2",
        name: "intmeth",
        text: r##"!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0
Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~
To: "BEL:\<hex>07</hex> NUL:\<hex>00</hex> DEL:\<hex>7F</hex>" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>
From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%="<hex>D180D0B0D0B1D0BED182D0B0D18ED189D0B8D0B9</hex>";tag=_token~1'+`*%!-.
Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\/"][?}{
CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~
Max-Forwards: 255
extensionHeader-!.%*+_`'~:<hex>EFBBBFE5A4A7E5819CE99BBB</hex>
Content-Length: 0

"##,
        expect: Expect::Valid(|m| {
            let r = req(m);
            let method = "!interesting-Method0123456789_*+`.%indeed'~";
            assert_eq!(r.method, Method::Other(method.into()));
            let ruri = r.uri.as_sip().unwrap();
            assert_eq!(
                ruri.user.as_deref(),
                Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
            );
            assert_eq!(
                ruri.password.as_deref(),
                Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
            );
            assert_eq!(ruri.host, Host::Domain("example.com".into()));
            assert_eq!(ruri.headers, None);
            assert_eq!(r.top_via().unwrap().branch(), Some("z9hG4bK-.!%66*_+`'~"));
            let to = r.to_header().unwrap();
            assert_eq!(to.display.as_deref(), Some("BEL:\u{7} NUL:\u{0} DEL:\u{7f}"));
            assert_eq!(
                to.uri.as_sip().unwrap().user.as_deref(),
                Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
            );
            let from = r.from_header().unwrap();
            assert_eq!(from.display.as_deref(), Some("token1~` token2'+_ token3*%!.-"));
            assert_eq!(from.tag(), Some("_token~1'+`*%!-."));
            assert_eq!(from.params.get("fromParam''~+*_!.-%"), Some("работающий"));
            assert_eq!(r.call_id().unwrap(), r#"intmeth.word%ZK-!.*_+'@word`~)(><:\/"][?}{"#);
            let cseq = r.cseq().unwrap();
            assert_eq!(cseq.seq, 139122385);
            assert_eq!(cseq.method, r.method);
            assert_eq!(r.max_forwards().unwrap(), Some(255));
            assert_eq!(
                r.headers.get(&HeaderName::from("extensionHeader-!.%*+_`'~")),
                Some("\u{feff}大停電")
            );
        }),
    },
    Case {
        // 3.1.1.3 Valid Use of the % Escaping Mechanism: escapes in user
        // parts and URI parameters; unescaping is not recursive.
        section: "3.1.1.3",
        name: "esc01",
        text: r##"INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0
To: sip:%75se%72@example.com
From: <sip:I%20have%20spaces@example.net>;tag=938
Max-Forwards: 87
i: esc01.239409asdfakjkn23onasd0-3234
CSeq: 234234 INVITE
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw
C: application/sdp
Contact:
  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>
Content-Length: 150

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"##,
        expect: Expect::Valid(|m| {
            let r = req(m);
            assert_eq!(sip_user(&r.uri), "sips:user@example.com");
            assert_eq!(r.uri.as_sip().unwrap().host, Host::Domain("example.net".into()));
            assert_eq!(sip_user(&r.to_header().unwrap().uri), "user");
            let from = r.from_header().unwrap();
            assert_eq!(sip_user(&from.uri), "I have spaces");
            assert_eq!(from.tag(), Some("938"));
            assert_eq!(r.call_id().unwrap(), "esc01.239409asdfakjkn23onasd0-3234");
            assert_eq!(r.content_type().as_deref(), Some("application/sdp"));
            let contact = &r.contacts().unwrap()[0];
            assert_eq!(sip_user(&contact.uri), "caller");
            let params = &contact.uri.as_sip().unwrap().params;
            assert!(params.contains("%6C%72"));
            // "value%41" after one round of unescaping, not "valueA".
            let name = params.get("n%61me").unwrap();
            assert_eq!(kuulo_sip::message::unescape(name), "value%41");
            assert_eq!(r.body.len(), 150);
        }),
    },
    Case {
        // 3.1.1.4 Escaped Nulls in URIs: two distinct contacts; the AOR must
        // not be cut at the NUL.
        section: "3.1.1.4",
        name: "escnull",
        text: r##"REGISTER sip:example.com SIP/2.0
To: sip:null-%00-null@example.com
From: sip:null-%00-null@example.com;tag=839923423
Max-Forwards: 70
Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
Contact: <sip:%00@host5.example.com>
Contact: <sip:%00%00@host5.example.com>
L:0

"##,
        expect: Expect::Valid(|m| {
            let r = req(m);
            assert_eq!(r.method, Method::Register);
            assert_eq!(sip_user(&r.to_header().unwrap().uri), "null-\0-null");
            assert_eq!(r.from_header().unwrap().tag(), Some("839923423"));
            let contacts = r.contacts().unwrap();
            assert_eq!(contacts.len(), 2);
            assert_eq!(sip_user(&contacts[0].uri), "\0");
            assert_eq!(sip_user(&contacts[1].uri), "\0\0");
            assert_ne!(contacts[0].uri, contacts[1].uri);
            assert_eq!(r.content_length().unwrap(), Some(0));
        }),
    },
    Case {
        // 3.1.1.5 Use of % When It Is Not an Escape: unknown method
        // RE%47IST%45R, display name %Z%45, and C%6Fntact is an unknown
        // header (two Contact values, not three).
        section: "3.1.1.5",
        name: "esc02",
        text: r##"RE%47IST%45R sip:registrar.example.com SIP/2.0
To: "%Z%45" <sip:resource@example.com>
From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23
Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf
Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234
CSeq: 29344 RE%47IST%45R
Max-Forwards: 70
Contact: <sip:alias1@host1.example.com>
C%6Fntact: <sip:alias2@host2.example.com>
Contact: <sip:alias3@host3.example.com>
l: 0

"##,
        expect: Expect::Valid(|m| {
            let r = req(m);
            assert_eq!(r.method, Method::Other("RE%47IST%45R".into()));
            assert_ne!(r.method, Method::Register);
            assert_eq!(r.to_header().unwrap().display.as_deref(), Some("%Z%45"));
            assert_eq!(r.from_header().unwrap().display.as_deref(), Some("%Z%45"));
            assert_eq!(r.top_via().unwrap().branch(), Some("z9hG4bK209%fzsnel234"));
            assert_eq!(r.cseq().unwrap().method, r.method);
            let contacts = r.contacts().unwrap();
            assert_eq!(contacts.len(), 2);
            assert_eq!(sip_user(&contacts[1].uri), "alias3");
            assert_eq!(
                r.headers.get(&HeaderName::from("C%6Fntact")),
                Some("<sip:alias2@host2.example.com>")
            );
        }),
    },
    Case {
        // 3.1.1.6 Message with No LWS between Display Name and <: accepted.
        section: "3.1.1.6",
        name: "lwsdisp",
        text: r##"OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: caller<sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID: lwsdisp.1234abcd@funky.example.com
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw
l: 0

"##,
        expect: Expect::Valid(|m| {
            let r = req(m);
            let from = r.from_header().unwrap();
            assert_eq!(from.display.as_deref(), Some("caller"));
            assert_eq!(sip_user(&from.uri), "caller");
            assert_eq!(from.tag(), Some("323"));
        }),
    },
    Case {
        // 3.1.1.7 Long Values in Header Fields: long display name, params,
        // tag and Call-ID, and 34 Via values in every spelling of the name.
        section: "3.1.1.7",
        name: "longreq",
        text: r##"INVITE sip:user@example.com SIP/2.0
<allOneLine>
To: "I have a user name of <repeat count=10>extreme</repeat> proportion"
<sip:user@example.com:6000;unknownparam1=very<repeat count=20>long</repeat>value;
longparam<repeat count=25>name</repeat>=shortvalue;
very<repeat count=25>long</repeat>ParameterNameWithNoValue>
</allOneLine>
<allOneLine>
F: sip:<repeat count=5>amazinglylongcallername</repeat>@example.net
;tag=12<repeat count=50>982</repeat>424
;unknownheaderparam<repeat count=20>name</repeat>=
unknowheaderparam<repeat count=15>value</repeat>
;unknownValueless<repeat count=10>paramname</repeat>
</allOneLine>
Call-ID: longreq.one<repeat count=20>really</repeat>longcallid
CSeq: 3882340 INVITE
<allOneLine>
Unknown-<repeat count=20>Long</repeat>-Name:
 unknown-<repeat count=20>long</repeat>-value;
 unknown-<repeat count=20>long</repeat>-parameter-name =
 unknown-<repeat count=20>long</repeat>-parameter-value
</allOneLine>
Via: SIP/2.0/TCP sip33.example.com
v: SIP/2.0/TCP sip32.example.com
V: SIP/2.0/TCP sip31.example.com
Via: SIP/2.0/TCP sip30.example.com
ViA: SIP/2.0/TCP sip29.example.com
VIa: SIP/2.0/TCP sip28.example.com
VIA: SIP/2.0/TCP sip27.example.com
via: SIP/2.0/TCP sip26.example.com
viA: SIP/2.0/TCP sip25.example.com
vIa: SIP/2.0/TCP sip24.example.com
vIA: SIP/2.0/TCP sip23.example.com
V :  SIP/2.0/TCP sip22.example.com
v :  SIP/2.0/TCP sip21.example.com
V  : SIP/2.0/TCP sip20.example.com
v  : SIP/2.0/TCP sip19.example.com
Via : SIP/2.0/TCP sip18.example.com
Via  : SIP/2.0/TCP sip17.example.com
Via: SIP/2.0/TCP sip16.example.com
Via: SIP/2.0/TCP sip15.example.com
Via: SIP/2.0/TCP sip14.example.com
Via: SIP/2.0/TCP sip13.example.com
Via: SIP/2.0/TCP sip12.example.com
Via: SIP/2.0/TCP sip11.example.com
Via: SIP/2.0/TCP sip10.example.com
Via: SIP/2.0/TCP sip9.example.com
Via: SIP/2.0/TCP sip8.example.com
Via: SIP/2.0/TCP sip7.example.com
Via: SIP/2.0/TCP sip6.example.com
Via: SIP/2.0/TCP sip5.example.com
Via: SIP/2.0/TCP sip4.example.com
Via: SIP/2.0/TCP sip3.example.com
Via: SIP/2.0/TCP sip2.example.com
Via: SIP/2.0/TCP sip1.example.com
<allOneLine>
Via: SIP/2.0/TCP host.example.com;received=192.0.2.5;
branch=very<repeat count=50>long</repeat>branchvalue
</allOneLine>
Max-Forwards: 70
<allOneLine>
Contact: <sip:<repeat count=5>amazinglylongcallername</repeat>@host5.example.net>
</allOneLine>
Content-Type: application/sdp
l: 150

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"##,
        expect: Expect::Valid(|m| {
            let r = req(m);
            let to = r.to_header().unwrap();
            let display = format!("I have a user name of {} proportion", "extreme".repeat(10));
            assert_eq!(to.display.as_deref(), Some(display.as_str()));
            let to_uri = to.uri.as_sip().unwrap();
            assert_eq!(to_uri.port, Some(6000));
            let long_value = format!("very{}value", "long".repeat(20));
            assert_eq!(to_uri.param("unknownparam1"), Some(long_value.as_str()));
            let long_name = format!("longparam{}", "name".repeat(25));
            assert_eq!(to_uri.param(&long_name), Some("shortvalue"));
            let from = r.from_header().unwrap();
            let tag = format!("12{}424", "982".repeat(50));
            assert_eq!(from.tag(), Some(tag.as_str()));
            assert_eq!(sip_user(&from.uri), "amazinglylongcallername".repeat(5));
            let call_id = format!("longreq.one{}longcallid", "really".repeat(20));
            assert_eq!(r.call_id().unwrap(), call_id);
            let vias = r.vias().unwrap();
            assert_eq!(vias.len(), 34);
            for (i, via) in vias.iter().take(33).enumerate() {
                let host = format!("sip{}.example.com", 33 - i);
                assert_eq!(via.host, Host::Domain(host));
                assert_eq!(via.branch(), None);
            }
            let last = &vias[33];
            assert_eq!(last.received(), Some("192.0.2.5"));
            let branch = format!("very{}branchvalue", "long".repeat(50));
            assert_eq!(last.branch(), Some(branch.as_str()));
            let unknown = HeaderName::from(format!("Unknown-{}-Name", "Long".repeat(20)).as_str());
            assert!(r.headers.get(&unknown).unwrap().starts_with("unknown-longlong"));
            assert_eq!(r.body.len(), 150);
        }),
    },
    Case {
        // 3.1.1.8 Extra Trailing Octets in a UDP Datagram: the INVITE after
        // the REGISTER's empty body is noise and must be ignored.
        section: "3.1.1.8",
        name: "dblreq",
        text: r##"REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=43251j3j324
Max-Forwards: 8
I: dblreq.0ha0isndaksdj99sdfafnl3lk233412
Contact: sip:j.user@host.example.com
CSeq: 8 REGISTER
Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492
Content-Length: 0

INVITE sip:joe@example.com SIP/2.0
t: sip:joe@example.com
From: sip:caller@example.net;tag=141334
Max-Forwards: 8
Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234
Content-Type: application/sdp
Content-Length: 150

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.15
s=-
c=IN IP4 192.0.2.15
t=0 0
m=audio 49217 RTP/AVP 0 12
m =video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"##,
        expect: Expect::Valid(|m| {
            let r = req(m);
            assert_eq!(r.method, Method::Register);
            assert_eq!(r.call_id().unwrap(), "dblreq.0ha0isndaksdj99sdfafnl3lk233412");
            assert_eq!(r.top_via().unwrap().branch(), Some("z9hG4bKkdjuw23492"));
            assert!(r.body.is_empty());
            // Re-serialized, the noise is gone.
            assert!(!m.to_bytes().windows(6).any(|w| w == b"INVITE"));
        }),
    },
    Case {
        // 3.1.1.9 Semicolon-Separated Parameters in URI User Part: the user
        // part is "user;par=u@example.net".
        section: "3.1.1.9",
        name: "semiuri",
        text: r##"OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Call-ID: semiuri.0ha0isndaksdj
CSeq: 8 OPTIONS
Accept: application/sdp, application/pkcs7-mime,
        multipart/mixed, multipart/signed,
        message/sip, message/sipfrag
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw
l: 0

"##,
        expect: Expect::Valid(|m| {
            let r = req(m);
            assert_eq!(sip_user(&r.uri), "user;par=u@example.net");
            let ruri = r.uri.as_sip().unwrap();
            assert_eq!(ruri.host, Host::Domain("example.com".into()));
            assert!(ruri.params.iter().next().is_none(), "no URI parameters");
            let accept = r.tokens(HeaderName::Accept);
            assert_eq!(accept.len(), 6);
            assert_eq!(accept[5], "message/sipfrag");
        }),
    },
    Case {
        // 3.1.1.10 Varied and Unknown Transport Types.
        section: "3.1.1.10",
        name: "transports",
        text: r##"OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: <sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID:  transports.kijh4akdnaqjkwendsasfdj
Accept: application/sdp
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw
Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf
Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj
Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en
Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee
l: 0

"##,
        expect: Expect::Valid(|m| {
            let r = req(m);
            assert_eq!(r.call_id().unwrap(), "transports.kijh4akdnaqjkwendsasfdj");
            let transports: Vec<_> = r.vias().unwrap().into_iter().map(|v| v.transport).collect();
            assert_eq!(transports, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
        }),
    },
    Case {
        // 3.1.1.11 Multipart MIME Message: the second body part is binary
        // with NUL octets; framing is by Content-Length only.
        section: "3.1.1.11",
        name: "mpart01",
        text: r##"MESSAGE sip:kumiko@example.org SIP/2.0
<allOneLine>
Via: SIP/2.0/UDP 127.0.0.1:5070
;branch=z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-;rport
</allOneLine>
Max-Forwards: 70
Route: <sip:127.0.0.1:5080>
<allOneLine>
Identity: r5mwreLuyDRYBi/0TiPwEsY3rEVsk/G2WxhgTV1PF7hHuLIK0YWVKZhKv9Mj8UeXqkMVbnVq37CD+813gvYjcBUaZngQmXc9WNZSDNGCzA+fWl9MEUHWIZo1CeJebdY/XlgKeTa0Olvq0rt70Q5jiSfbqMJmQFteeivUhkMWYUA=
</allOneLine>
Contact: <sip:fluffy@127.0.0.1:5070>
To: <sip:kumiko@example.org>
From: <sip:fluffy@example.com>;tag=2fb0dcc9
Call-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..
CSeq: 1 MESSAGE
Content-Transfer-Encoding: binary
Content-Type: multipart/mixed;boundary=7a9cbec02ceef655
Date: Sat, 15 Oct 2005 04:44:56 GMT
User-Agent: SIPimp.org/0.2.5 (curses)
Content-Length: 553

--7a9cbec02ceef655
Content-Type: text/plain
Content-Transfer-Encoding: binary

Hello
--7a9cbec02ceef655
Content-Type: application/octet-stream
Content-Transfer-Encoding: binary

<hex>3082015206092A864886F70D010702A08201433082013F02
01013109300706052B0E03021A300B06092A864886F70D010701318201203082
011C020101307C3070310B300906035504061302555331133011060355040813
0A43616C69666F726E69613111300F0603550407130853616E204A6F7365310E
300C060355040A1305736970697431293027060355040B132053697069742054
65737420436572746966696361746520417574686F7269747902080195007102
330113300706052B0E03021A300D06092A864886F70D01010105000481808EF4
66F948F0522DD2E5978E9D95AAE9F2FE15A06659716292E8DA2AA8D8350A68CE
FFAE3CBD2BFF1675DDD5648E593DD64728F26220F7E941749E330D9A15EDABDB
93D10C42102E7B7289D29CC0C9AE2EFBC7C0CFF9172F3B027E4FC027E1546DE4
B6AA3ABB3E66CCCB5DD6C64B8383149CB8E6FF182D944FE57B65BC99D005</hex>
--7a9cbec02ceef655--
"##,
        expect: Expect::Valid(|m| {
            let r = req(m);
            assert_eq!(r.method, Method::Message);
            let via = r.top_via().unwrap();
            assert_eq!(via.port, Some(5070));
            assert_eq!(via.rport(), Some(None));
            assert_eq!(via.branch(), Some("z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-"));
            assert_eq!(r.content_type().as_deref(), Some("multipart/mixed"));
            assert_eq!(r.content_length().unwrap(), Some(553));
            assert_eq!(r.body.len(), 553);
            assert!(r.body.contains(&0));
            assert!(r.body.ends_with(b"--7a9cbec02ceef655--\r\n"));
        }),
    },
    Case {
        // 3.1.1.12 Unusual Reason Phrase: reserved characters and UTF-8.
        section: "3.1.1.12",
        name: "unreason",
        text: r##"<allOneLine>
SIP/2.0 200 = 2**3 * 5**2 <hex>D0BDD0BE20D181D182D0BE20D0B4D0B5D0B2D18FD0BDD0BED181D182D0BE20D0B4D0B5D0B2D18FD182D18C202D20D0BFD180D0BED181D182D0BED0B5</hex>
</allOneLine>
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Call-ID: unreason.1234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu;tag=2229
Content-Length: 154
Content-Type: application/sdp
Contact: <sip:user@host198.example.com>

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.198
s=-
c=IN IP4 192.0.2.198
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"##,
        expect: Expect::Valid(|m| {
            let r = resp(m);
            assert_eq!(r.status, 200);
            assert_eq!(r.reason, "= 2**3 * 5**2 но сто девяносто девять - простое");
            assert_eq!(r.to_header().unwrap().tag(), Some("2229"));
            assert_eq!(r.body.len(), 154);
        }),
    },
    Case {
        // 3.1.1.13 Empty Reason Phrase (the SP after the code is present).
        section: "3.1.1.13",
        name: "noreason",
        text: "SIP/2.0 100 \nVia: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: noreason.asndj203insdf99223ndf
CSeq: 35 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>

",
        expect: Expect::Valid(|m| {
            let r = resp(m);
            assert_eq!((r.status, r.reason.as_str()), (100, ""));
            assert!(r.is_provisional());
            assert_eq!(r.top_via().unwrap().branch(), Some("z9hG4bK2398ndaoe"));
        }),
    },
    // ---------------------------------------------------------------- 3.1.2
    Case {
        // 3.1.2.1 Extraneous Header Field Separators: `;;,;,,` in Via and
        // `;;;;` in Contact are syntax errors (400). Header values are typed
        // on demand, so the error comes from the Via/Contact accessors.
        section: "3.1.2.1",
        name: "badinv01",
        text: r##"INVITE sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=134161461246
Max-Forwards: 7
Call-ID: badinv01.0ha0isndaksdjasdf3234nas
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;;,;,,
Contact: "Joe" <sip:joe@example.org>;;;;
Content-Length: 152
Content-Type: application/sdp

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.15
s=-
c=IN IP4 192.0.2.15
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"##,
        expect: Expect::Reject(|m| {
            let r = req(m);
            assert!(matches!(r.top_via(), Err(HeaderError::Invalid { .. })));
            assert!(matches!(r.vias(), Err(HeaderError::Invalid { .. })));
            assert!(matches!(r.contacts(), Err(HeaderError::Invalid { .. })));
        }),
    },
    Case {
        // 3.1.2.2 Content Length Larger Than Message: over UDP, 400.
        section: "3.1.2.2",
        name: "clerr",
        text: r##"INVITE sip:user@example.com SIP/2.0
Max-Forwards: 80
To: sip:j.user@example.com
From: sip:caller@example.net;tag=93942939o2
Contact: <sip:caller@hungry.example.net>
Call-ID: clerr.0ha0isndaksdjweiafasdk3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523
Content-Type: application/sdp
Content-Length: 9999

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.155
s=-
c=IN IP4 192.0.2.155
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"##,
        expect: Expect::ParseError(|e| {
            assert!(matches!(e, ParseError::BodyTruncated { expected: 9999, .. }), "{e:?}")
        }),
    },
    Case {
        // 3.1.2.3 Negative Content-Length: an error, never a negative count.
        section: "3.1.2.3",
        name: "ncl",
        text: r##"INVITE sip:user@example.com SIP/2.0
Max-Forwards: 254
To: sip:j.user@example.com
From: sip:caller@example.net;tag=32394234
Call-ID: ncl.0ha0isndaksdj2193423r542w35
CSeq: 0 INVITE
Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw
Contact: <sip:caller@example53.example.net>
Content-Type: application/sdp
Content-Length: -999

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.53
s=-
c=IN IP4 192.0.2.53
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"##,
        expect: Expect::ParseError(|e| assert!(matches!(e, ParseError::BadContentLength(_)), "{e:?}")),
    },
    Case {
        // 3.1.2.4 Request Scalar Fields with Overlarge Values: 400 for the
        // CSeq; Max-Forwards > 255 and the huge Expires are invalid too.
        section: "3.1.2.4",
        name: "scalar02",
        text: r##"REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3
To: <sip:user@example.com>
From: <sip:user@example.com>;tag=239232jh3
CSeq: 36893488147419103232 REGISTER
Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32
Max-Forwards: 300
Expires: 1<repeat count=100>0</repeat>
Contact: <sip:user@host129.example.com>
  ;expires=280297596632815
Content-Length: 0

"##,
        expect: Expect::Reject(|m| {
            let r = req(m);
            assert!(matches!(r.cseq(), Err(HeaderError::Invalid { name: "CSeq", .. })));
            assert!(matches!(r.max_forwards(), Err(HeaderError::Invalid { name: "Max-Forwards", .. })));
            assert!(matches!(r.expires(), Err(HeaderError::Invalid { name: "Expires", .. })));
            let contact = &r.contacts().unwrap()[0];
            assert!(contact.params.get("expires").unwrap().parse::<u32>().is_err());
        }),
    },
    Case {
        // 3.1.2.5 Response Scalar Fields with Overlarge Values: the
        // response is discarded; its CSeq is unusable.
        section: "3.1.2.5",
        name: "scalarlg",
        text: r##"SIP/2.0 503 Service Unavailable
<allOneLine>
Via: SIP/2.0/TCP host129.example.com
;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129
</allOneLine>
To: <sip:user@example.com>
From: <sip:other@example.net>;tag=2easdjfejw
CSeq: 9292394834772304023312 OPTIONS
Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r
Retry-After: 949302838503028349304023988
Warning: 1812 overture "In Progress"
Content-Length: 0

"##,
        expect: Expect::Reject(|m| {
            let r = resp(m);
            assert_eq!(r.status, 503);
            assert!(matches!(r.cseq(), Err(HeaderError::Invalid { name: "CSeq", .. })));
        }),
    },
    Case {
        // 3.1.2.6 Unterminated Quoted String in Display Name: 400.
        section: "3.1.2.6",
        name: "quotbal",
        text: r##"INVITE sip:user@example.com SIP/2.0
To: "Mr. J. User <sip:j.user@example.com>
From: sip:caller@example.net;tag=93334
Max-Forwards: 10
Call-ID: quotbal.aksdj
Contact: <sip:caller@host59.example.net>
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234
Content-Type: application/sdp
Content-Length: 152

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.15
s=-
c=IN IP4 192.0.2.15
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"##,
        expect: Expect::Reject(|m| {
            assert!(matches!(req(m).to_header(), Err(HeaderError::Invalid { .. })));
        }),
    },
    Case {
        // 3.1.2.7 <> Enclosing Request-URI: 400.
        section: "3.1.2.7",
        name: "ltgtruri",
        text: r##"INVITE <sip:user@example.com> SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=39291
Max-Forwards: 23
Call-ID: ltgtruri.1@192.0.2.5
CSeq: 1 INVITE
Via: SIP/2.0/UDP 192.0.2.5
Contact: <sip:caller@host5.example.net>
Content-Type: application/sdp
Content-Length: 159

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=3149328700 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"##,
        expect: Expect::ParseError(|e| {
            assert!(matches!(e, ParseError::RequestUri(UriError::Scheme(_))), "{e:?}")
        }),
    },
    Case {
        // 3.1.2.8 Malformed SIP Request-URI (embedded LWS): 400.
        section: "3.1.2.8",
        name: "lwsruri",
        text: r##"INVITE sip:user@example.com; lr SIP/2.0
To: sip:user@example.com;tag=3xfe-9921883-z9f
From: sip:caller@example.net;tag=231413434
Max-Forwards: 5
Call-ID: lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423
CSeq: 2130706432 INVITE
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKkdjuw2395
Contact: <sip:caller@host1.example.net>
Content-Type: application/sdp
Content-Length: 159

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=3149328700 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"##,
        expect: Expect::ParseError(|e| assert!(matches!(e, ParseError::StartLine(_)), "{e:?}")),
    },
    Case {
        // 3.1.2.9 Multiple SP Separating Request-Line Elements: rejecting
        // is acceptable, and we do.
        section: "3.1.2.9",
        name: "lwsstart",
        text: r##"INVITE  sip:user@example.com  SIP/2.0
Max-Forwards: 8
To: sip:user@example.com
From: sip:caller@example.net;tag=8814
Call-ID: lwsstart.dfknq234oi243099adsdfnawe3@example.com
CSeq: 1893884 INVITE
Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw3923
Contact: <sip:caller@host1.example.net>
Content-Type: application/sdp
Content-Length: 150

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"##,
        expect: Expect::ParseError(|e| assert!(matches!(e, ParseError::StartLine(_)), "{e:?}")),
    },
    Case {
        // 3.1.2.10 SP Characters at End of Request-Line: rejecting is
        // acceptable, and we do.
        section: "3.1.2.10",
        name: "trws",
        text: "OPTIONS sip:remote-target@example.com SIP/2.0  \nVia: SIP/2.0/TCP host1.examle.com;branch=z9hG4bK299342093
To: <sip:remote-target@example.com>
From: <sip:local-resource@example.com>;tag=329429089
Call-ID: trws.oicu34958239neffasdhr2345r
Accept: application/sdp
CSeq: 238923 OPTIONS
Max-Forwards: 70
Content-Length: 0

",
        expect: Expect::ParseError(|e| assert!(matches!(e, ParseError::StartLine(_)), "{e:?}")),
    },
    Case {
        // 3.1.2.11 Escaped Headers in SIP Request-URI: headers are not
        // allowed in a Request-URI; rejecting with 400 is acceptable.
        section: "3.1.2.11",
        name: "escruri",
        text: r##"INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=341518
Max-Forwards: 7
Contact: <sip:caller@host39923.example.net>
Call-ID: escruri.23940-asdfhj-aje3br-234q098w-fawerh2q-h4n5
CSeq: 149209342 INVITE
Via: SIP/2.0/UDP host-of-the-hour.example.com;branch=z9hG4bKkdjuw
Content-Type: application/sdp
Content-Length: 150

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"##,
        expect: Expect::ParseError(|e| assert!(matches!(e, ParseError::StartLine(_)), "{e:?}")),
    },
    Case {
        // 3.1.2.12 Invalid Time Zone in Date Header Field: only worth
        // rejecting if Date matters. Our layer does not interpret Date; it
        // keeps the value verbatim for whoever needs it.
        section: "3.1.2.12",
        name: "baddate",
        text: r##"INVITE sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=2234923
Max-Forwards: 70
Call-ID: baddate.239423mnsadf3j23lj42--sedfnm234
CSeq: 1392934 INVITE
Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw
Date: Fri, 01 Jan 2010 16:00:00 EST
Contact: <sip:caller@host5.example.net>
Content-Type: application/sdp
Content-Length: 150

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"##,
        expect: Expect::Reject(|m| {
            let date = req(m).headers.get(&HeaderName::Date).unwrap();
            assert!(!date.ends_with("GMT"), "{date}");
        }),
    },
    Case {
        // 3.1.2.13 Failure to Enclose name-addr URI in <>: a URI with
        // headers must be in <>; 400.
        section: "3.1.2.13",
        name: "regbadct",
        text: r##"REGISTER sip:example.com SIP/2.0
To: sip:user@example.com
From: sip:user@example.com;tag=998332
Max-Forwards: 70
Call-ID: regbadct.k345asrl3fdbv@10.0.0.1
CSeq: 1 REGISTER
Via: SIP/2.0/UDP 135.180.130.133:5060;branch=z9hG4bKkdjuw
Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E
l: 0

"##,
        expect: Expect::Reject(|m| {
            assert!(matches!(req(m).contacts(), Err(HeaderError::Invalid { .. })));
        }),
    },
    Case {
        // 3.1.2.14 Spaces within addr-spec: rejecting with 400 is
        // reasonable, and we do (the To accessor fails).
        section: "3.1.2.14",
        name: "badaspec",
        text: r##"OPTIONS sip:user@example.org SIP/2.0
Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234
Max-Forwards: 70
From: "Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423
To: "Watson, Thomas" < sip:t.watson@example.org >
Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3
Accept: application/sdp
CSeq: 3923239 OPTIONS
l: 0

"##,
        expect: Expect::Reject(|m| {
            let r = req(m);
            assert_eq!(r.from_header().unwrap().display.as_deref(), Some("Bell, Alexander"));
            assert!(matches!(r.to_header(), Err(HeaderError::Invalid { .. })));
        }),
    },
    Case {
        // 3.1.2.15 Non-token Characters in Display Name: unquoted display
        // names with a comma; 400.
        section: "3.1.2.15",
        name: "baddn",
        text: r##"OPTIONS sip:t.watson@example.org SIP/2.0
Via:     SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards:      70
From:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43
To:      Watson, Thomas <sip:t.watson@example.org>
Call-ID: baddn.31415@c.example.com
Accept: application/sdp
CSeq:    3923239 OPTIONS
l: 0

"##,
        expect: Expect::Reject(|m| {
            let r = req(m);
            assert!(matches!(r.from_header(), Err(HeaderError::Invalid { .. })));
            assert!(matches!(r.to_header(), Err(HeaderError::Invalid { .. })));
        }),
    },
    Case {
        // 3.1.2.16 Unknown Protocol Version: answered with 505, which the
        // typed BadVersion error lets a UAS choose.
        section: "3.1.2.16",
        name: "badvers",
        text: r##"OPTIONS sip:t.watson@example.org SIP/7.0
Via:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw
Max-Forwards:     70
From:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe
To:      T. Watson <sip:t.watson@example.org>
Call-ID: badvers.31417@c.example.com
CSeq:    1 OPTIONS
l: 0

"##,
        expect: Expect::ParseError(|e| {
            assert_eq!(e, &ParseError::BadVersion("SIP/7.0".into()));
        }),
    },
    Case {
        // 3.1.2.17 Start Line and CSeq Method Mismatch: 400.
        section: "3.1.2.17",
        name: "mismatch01",
        text: r##"OPTIONS sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=34525
Max-Forwards: 6
Call-ID: mismatch01.dj0234sxdfl3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw
l: 0

"##,
        expect: Expect::Reject(|m| {
            let r = req(m);
            assert_eq!(r.method, Method::Options);
            assert_eq!(r.cseq().unwrap().method, Method::Invite);
        }),
    },
    Case {
        // 3.1.2.18 Unknown Method with CSeq Method Mismatch: 501 (or 400).
        section: "3.1.2.18",
        name: "mismatch02",
        text: r##"NEWMETHOD sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=34525
Max-Forwards: 6
Call-ID: mismatch02.dj0234sxdfl3
CSeq: 8 INVITE
Contact: <sip:caller@host.example.net>
Via: SIP/2.0/UDP host.example.net;branch=z9hG4bKkdjuw
Content-Type: application/sdp
l: 138

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.1
c=IN IP4 192.0.2.1
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"##,
        expect: Expect::Reject(|m| {
            let r = req(m);
            assert_eq!(r.method, Method::Other("NEWMETHOD".into()));
            assert_ne!(r.cseq().unwrap().method, r.method);
        }),
    },
    Case {
        // 3.1.2.19 Overlarge Response Code: dropped.
        section: "3.1.2.19",
        name: "bigcode",
        text: r##"SIP/2.0 4294967301 better not break the receiver
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i
CSeq: 353494 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>

"##,
        expect: Expect::ParseError(|e| assert!(matches!(e, ParseError::BadStatus(_)), "{e:?}")),
    },
    // ------------------------------------------------------------------ 3.2
    Case {
        // 3.2.1 Missing Transaction Identifier: branch is only the magic
        // cookie; the parser must not break, the transaction layer may
        // reject (400) or fall back to RFC 2543 matching.
        section: "3.2.1",
        name: "badbranch",
        text: r##"OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK
Accept: application/sdp
Call-ID: badbranch.sadonfo23i420jv0as0derf3j3n
CSeq: 8 OPTIONS
l: 0

"##,
        expect: Expect::Reject(|m| {
            assert_eq!(req(m).top_via().unwrap().branch(), Some("z9hG4bK"));
        }),
    },
    // ------------------------------------------------------------------ 3.3
    Case {
        // 3.3.1 Missing Required Header Fields: 400 naming the missing
        // Call-ID, From, To (and Max-Forwards).
        section: "3.3.1",
        name: "insuf",
        text: r##"INVITE sip:user@example.com SIP/2.0
CSeq: 193942 INVITE
Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf
Content-Type: application/sdp
l: 152

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.95
s=-
c=IN IP4 192.0.2.95
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"##,
        expect: Expect::Reject(|m| {
            let r = req(m);
            assert_eq!(r.call_id(), Err(HeaderError::Missing("Call-ID")));
            assert_eq!(r.from_header(), Err(HeaderError::Missing("From")));
            assert_eq!(r.to_header(), Err(HeaderError::Missing("To")));
            assert_eq!(r.max_forwards(), Ok(None));
        }),
    },
    Case {
        // 3.3.2 Request-URI with Unknown Scheme: 416. We only know sip,
        // sips and tel, so the typed error names the scheme.
        section: "3.3.2",
        name: "unkscm",
        text: r##"OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=384
Max-Forwards: 3
Call-ID: unkscm.nasdfasser0q239nwsdfasdkl34
CSeq: 3923423 OPTIONS
Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234
Content-Length: 0

"##,
        expect: Expect::ParseError(|e| {
            assert_eq!(e, &ParseError::RequestUri(UriError::Scheme("nobodyKnowsThisS".into())));
        }),
    },
    Case {
        // 3.3.3 Request-URI with Known but Atypical Scheme: 416 for us.
        section: "3.3.3",
        name: "novelsc",
        text: r##"OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=384
Max-Forwards: 3
Call-ID: novelsc.asdfasser0q239nwsdfasdkl34
CSeq: 3923423 OPTIONS
Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234
Content-Length: 0

"##,
        expect: Expect::ParseError(|e| {
            assert_eq!(e, &ParseError::RequestUri(UriError::Scheme("soap.beep".into())));
        }),
    },
    Case {
        // 3.3.4 Unknown URI Schemes in Header Fields: fine for a proxy; a
        // registrar answers 400 because To is not a sip/sips URI.
        section: "3.3.4",
        name: "unksm2",
        text: r##"REGISTER sip:example.com SIP/2.0
To: isbn:2983792873
From: <http://www.example.com>;tag=3234233
Call-ID: unksm2.daksdj@hyphenated-host.example.com
CSeq: 234902 REGISTER
Max-Forwards: 70
Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bKkdjuw
Contact: <name:John_Smith>
l: 0

"##,
        expect: Expect::Reject(|m| {
            let r = req(m);
            assert_eq!(r.call_id().unwrap(), "unksm2.daksdj@hyphenated-host.example.com");
            let scheme = |e| matches!(e, Err(HeaderError::Uri(UriError::Scheme(_))));
            assert!(scheme(r.to_header().map(|_| ())));
            assert!(scheme(r.from_header().map(|_| ())));
            assert!(scheme(r.contacts().map(|_| ())));
        }),
    },
    Case {
        // 3.3.5 Proxy-Require and Require: a UAS answers 420 listing the
        // Require tokens in Unsupported.
        section: "3.3.5",
        name: "bext01",
        text: r##"OPTIONS sip:user@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.net;tag=242etr
Max-Forwards: 6
Call-ID: bext01.0ha0isndaksdj
Require: nothingSupportsThis, nothingSupportsThisEither
Proxy-Require: noProxiesSupportThis, norDoAnyProxiesSupportThis
CSeq: 8 OPTIONS
Via: SIP/2.0/TLS fold-and-staple.example.com;branch=z9hG4bKkdjuw
Content-Length: 0

"##,
        expect: Expect::Reject(|m| {
            let r = req(m);
            assert_eq!(
                r.tokens(HeaderName::Require),
                ["nothingSupportsThis", "nothingSupportsThisEither"]
            );
            assert_eq!(
                r.tokens(HeaderName::ProxyRequire),
                ["noProxiesSupportThis", "norDoAnyProxiesSupportThis"]
            );
        }),
    },
    Case {
        // 3.3.6 Unknown Content-Type: 415 with an Accept header.
        section: "3.3.6",
        name: "invut",
        text: r##"INVITE sip:user@example.com SIP/2.0
Contact: <sip:caller@host5.example.net>
To: sip:j.user@example.com
From: sip:caller@example.net;tag=8392034
Max-Forwards: 70
Call-ID: invut.0ha0isndaksdjadsfij34n23d
CSeq: 235448 INVITE
Via: SIP/2.0/UDP somehost.example.com;branch=z9hG4bKkdjuw
Content-Type: application/unknownformat
Content-Length: 40

<audio>
 <pcmu port="443"/>
</audio>
"##,
        expect: Expect::Reject(|m| {
            let r = req(m);
            assert_eq!(r.content_type().as_deref(), Some("application/unknownformat"));
            assert_eq!(r.body.len(), 40);
        }),
    },
    Case {
        // 3.3.7 Unknown Authorization Scheme: a registrar answers 401 with
        // a Digest challenge.
        section: "3.3.7",
        name: "regaut01",
        text: r##"REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=87321hj23128
Max-Forwards: 8
Call-ID: regaut01.0ha0isndaksdj
CSeq: 9338 REGISTER
Via: SIP/2.0/TCP 192.0.2.253;branch=z9hG4bKkdjuw
Authorization: NoOneKnowsThisScheme opaque-data=here
Content-Length:0

"##,
        expect: Expect::Reject(|m| {
            let creds = req(m).credentials(HeaderName::Authorization).unwrap();
            assert_eq!(creds.len(), 1);
            assert_eq!(creds[0].scheme, "NoOneKnowsThisScheme");
            assert_eq!(creds[0].params.get("opaque-data"), Some("here"));
        }),
    },
    Case {
        // 3.3.8 Multiple Values in Single Value Required Fields: 400.
        section: "3.3.8",
        name: "multi01",
        text: r##"INVITE sip:user@company.com SIP/2.0
Contact: <sip:caller@host25.example.net>
Via: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKkdjuw
Max-Forwards: 70
CSeq: 5 INVITE
Call-ID: multi01.98asdh@192.0.2.1
CSeq: 59 INVITE
Call-ID: multi01.98asdh@192.0.2.2
From: sip:caller@example.com;tag=3413415
To: sip:user@example.com
To: sip:other@example.net
From: sip:caller@example.net;tag=2923420123
Content-Type: application/sdp
l: 154
Contact: <sip:caller@host36.example.net>
Max-Forwards: 5

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.25
s=-
c=IN IP4 192.0.2.25
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC

"##,
        expect: Expect::Reject(|m| {
            let r = req(m);
            assert!(matches!(r.check_single_valued(), Err(HeaderError::Invalid { .. })));
            assert_eq!(r.headers.get_all(&HeaderName::CallId).count(), 2);
        }),
    },
    Case {
        // 3.3.9 Multiple Content-Length Values: no way to frame it; 400.
        section: "3.3.9",
        name: "mcl01",
        text: r##"OPTIONS sip:user@example.com SIP/2.0
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423
To: sip:user@example.com
From: sip:other@example.net;tag=3923942
Call-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf
CSeq: 15932 OPTIONS
Content-Length: 13
Max-Forwards: 60
Content-Length: 5
Content-Type: text/plain

There's no way to know how many octets are supposed to be here.
"##,
        expect: Expect::ParseError(|e| assert!(matches!(e, ParseError::BadContentLength(_)), "{e:?}")),
    },
    Case {
        // 3.3.10 200 OK Response with Broadcast Via Header Field Value: the
        // second Via names 255.255.255.255; a UA must not send there.
        section: "3.3.10",
        name: "bcast",
        text: r##"SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Via: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23
Call-ID: bcast.0384840201234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu;tag=2229
Content-Length: 154
Content-Type: application/sdp
Contact: <sip:user@host28.example.com>

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.198
s=-
c=IN IP4 192.0.2.198
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"##,
        expect: Expect::Reject(|m| {
            let vias = resp(m).vias().unwrap();
            assert_eq!(vias[1].host, Host::Ipv4(std::net::Ipv4Addr::BROADCAST));
        }),
    },
    Case {
        // 3.3.11 Max-Forwards of Zero: 483 (an OPTIONS for this element may
        // be answered).
        section: "3.3.11",
        name: "zeromf",
        text: r##"OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=3ghsd41
Call-ID: zeromf.jfasdlfnm2o2l43r5u0asdfas
CSeq: 39234321 OPTIONS
Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i
Max-Forwards: 0
Content-Length: 0

"##,
        expect: Expect::Reject(|m| assert_eq!(req(m).max_forwards(), Ok(Some(0)))),
    },
    Case {
        // 3.3.12 REGISTER with a Contact Header Parameter: in addr-spec
        // form, ;unknownparam is a header parameter, not a URI parameter.
        section: "3.3.12",
        name: "cparam01",
        text: r##"REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards: 70
From: sip:watson@example.com;tag=DkfVgjkrtMwaerKKpe
To: sip:watson@example.com
Call-ID: cparam01.70710@saturn.example.com
CSeq: 2 REGISTER
Contact: sip:+19725552222@gw1.example.net;unknownparam
l: 0

"##,
        expect: Expect::Valid(|m| {
            let c = &req(m).contacts().unwrap()[0];
            assert!(c.params.contains("unknownparam"));
            assert!(!c.uri.as_sip().unwrap().params.contains("unknownparam"));
        }),
    },
    Case {
        // 3.3.13 REGISTER with a url-parameter: inside <>, it belongs to the
        // URI.
        section: "3.3.13",
        name: "cparam02",
        text: r##"REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards: 70
From: sip:watson@example.com;tag=838293
To: sip:watson@example.com
Call-ID: cparam02.70710@saturn.example.com
CSeq: 3 REGISTER
Contact: <sip:+19725552222@gw1.example.net;unknownparam>
l: 0

"##,
        expect: Expect::Valid(|m| {
            let c = &req(m).contacts().unwrap()[0];
            assert!(!c.params.contains("unknownparam"));
            assert!(c.uri.as_sip().unwrap().params.contains("unknownparam"));
        }),
    },
    Case {
        // 3.3.14 REGISTER with a URL Escaped Header: valid; the Contact URI
        // carries an escaped Route header.
        section: "3.3.14",
        name: "regescrt",
        text: r##"REGISTER sip:example.com SIP/2.0
To: sip:user@example.com
From: sip:user@example.com;tag=8
Max-Forwards: 70
Call-ID: regescrt.k345asrl3fdbv@192.0.2.1
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
M: <sip:user@example.com?Route=%3Csip:sip.example.com%3E>
L:0

"##,
        expect: Expect::Valid(|m| {
            let c = &req(m).contacts().unwrap()[0];
            let uri = c.uri.as_sip().unwrap();
            assert_eq!(uri.headers.as_deref(), Some("Route=%3Csip:sip.example.com%3E"));
            assert_eq!(uri.user.as_deref(), Some("user"));
        }),
    },
    Case {
        // 3.3.15 Unacceptable Accept Offering: no application/sdp in Accept;
        // 406 (or 400).
        section: "3.3.15",
        name: "sdp01",
        text: r##"INVITE sip:user@example.com SIP/2.0
To: sip:j_user@example.com
Contact: <sip:caller@host15.example.net>
From: sip:caller@example.net;tag=234
Max-Forwards: 5
Call-ID: sdp01.ndaksdj9342dasdd
Accept: text/nobodyKnowsThis
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw
Content-Length: 150
Content-Type: application/sdp

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"##,
        expect: Expect::Reject(|m| {
            assert_eq!(req(m).tokens(HeaderName::Accept), ["text/nobodyKnowsThis"]);
        }),
    },
    // ------------------------------------------------------------------ 3.4
    Case {
        // 3.4.1 INVITE with RFC 2543 Syntax: no branch, no Max-Forwards, no
        // Content-Length (the body is the rest of the datagram). Accepted.
        section: "3.4.1",
        name: "inv2543",
        text: r##"INVITE sip:UserB@example.com SIP/2.0
Via: SIP/2.0/UDP iftgw.example.com
From: <sip:+13035551111@ift.client.example.net;user=phone>
Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>
To: sip:+16505552222@ss1.example.net;user=phone
Call-ID: inv2543.1717@ift.client.example.com
CSeq: 56 INVITE
Content-Type: application/sdp

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
m=audio 49217 RTP/AVP 0
"##,
        expect: Expect::Valid(|m| {
            let r = req(m);
            assert_eq!(r.top_via().unwrap().branch(), None);
            assert_eq!(r.max_forwards(), Ok(None));
            assert_eq!(r.content_length(), Ok(None));
            assert!(r.body.starts_with(b"v=0\r\n"));
            assert!(r.body.ends_with(b"m=audio 49217 RTP/AVP 0\r\n"));
            let rr = r.record_routes().unwrap();
            assert_eq!(rr[0].uri.as_sip().unwrap().param("maddr"), Some("ss1.example.com"));
            assert_eq!(r.from_header().unwrap().tag(), None);
        }),
    },
];

#[test]
fn rfc4475_table() {
    let mut failures = Vec::new();
    for case in CASES {
        let parsed = parse(case.text);
        let wire = rfc4475(case.text);
        let fuzz_checks = std::panic::catch_unwind(|| kuulo_sip::message::fuzz_check(&wire));
        assert!(fuzz_checks.is_ok(), "{} fails the fuzz checks", case.name);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            match (&case.expect, &parsed) {
                (Expect::Valid(check) | Expect::Reject(check), Ok(msg)) => {
                    check(msg);
                    // Whatever parsed must serialize and parse back the same.
                    let again = SipMessage::parse(msg.to_bytes()).expect("re-parse");
                    // (Serialization always writes Content-Length from the body.)
                    let count = |m: &SipMessage| {
                        m.headers()
                            .iter()
                            .filter(|h| h.name != HeaderName::ContentLength)
                            .count()
                    };
                    assert_eq!(count(&again), count(msg));
                    assert_eq!(body(&again), body(msg));
                }
                (Expect::ParseError(check), Err(e)) => check(e),
                (_, other) => panic!("unexpected outcome {other:?}"),
            }
        }));
        if outcome.is_err() {
            failures.push(format!("{} {}", case.section, case.name));
        }
    }
    assert!(failures.is_empty(), "failing cases: {failures:?}");
    assert_eq!(CASES.len(), 49, "every message of RFC 4475");
}

#[test]
fn section_2_conventions() {
    let bytes = rfc4475(
        "<allOneLine>\nA: b\n c<repeat count=3>x</repeat>\n</allOneLine>\nD: <hex>00FF</hex>\n",
    );
    assert_eq!(bytes, b"A: b cxxx\r\nD: \x00\xff\r\n");
    assert_eq!(SDP_150.replace('\n', "\r\n").len(), 150);
}
