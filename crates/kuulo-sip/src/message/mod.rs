//! The SIP message layer: requests, responses, headers, URIs, parsing,
//! serialization and stream framing.
//!
//! ```
//! use kuulo_sip::message::{HeaderAccess, Method, SipMessage};
//!
//! let raw = b"OPTIONS sip:survey@127.0.0.1 SIP/2.0\r\n\
//! v: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK776asdhds\r\n\
//! f: <sip:probe@127.0.0.1>;tag=1928301774\r\n\
//! t: <sip:survey@127.0.0.1>\r\n\
//! i: a84b4c76e66710\r\n\
//! CSeq: 63104 OPTIONS\r\n\
//! l: 0\r\n\r\n";
//! let msg = SipMessage::parse(bytes::Bytes::from_static(raw)).unwrap();
//! let req = msg.as_request().unwrap();
//! assert_eq!(req.method, Method::Options);
//! assert_eq!(req.call_id().unwrap(), "a84b4c76e66710");
//! assert_eq!(req.top_via().unwrap().branch(), Some("z9hG4bK776asdhds"));
//! ```

mod error;
mod framing;
mod headers;
mod parse;
#[cfg(feature = "rsip")]
mod rsip_compat;
mod serialize;
mod typed;
mod uri;

pub use error::{HeaderError, ParseError, UriError};
pub use framing::{FramingError, StreamFramer};
pub use headers::{Header, HeaderName, Headers};
pub use parse::MAX_MESSAGE_SIZE;
#[cfg(feature = "rsip")]
pub use rsip_compat::RsipConvertError;
pub use typed::{
    AuthParams, CSeq, Challenge, Credentials, NameAddr, Params, RAck, Reason, SessionExpires, Via,
};
pub use uri::{unescape, Host, SipUri, TelUri, Uri};

use bytes::Bytes;
use std::fmt;

/// A SIP method. Unknown methods are kept by name so a UAS can answer 501
/// (or 405) rather than failing to parse.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// INVITE
    Invite,
    /// ACK
    Ack,
    /// BYE
    Bye,
    /// CANCEL
    Cancel,
    /// OPTIONS
    Options,
    /// REGISTER
    Register,
    /// PRACK (RFC 3262)
    Prack,
    /// UPDATE (RFC 3311)
    Update,
    /// INFO (RFC 6086)
    Info,
    /// SUBSCRIBE (RFC 6665)
    Subscribe,
    /// NOTIFY (RFC 6665)
    Notify,
    /// REFER (RFC 3515)
    Refer,
    /// MESSAGE (RFC 3428)
    Message,
    /// PUBLISH (RFC 3903)
    Publish,
    /// Any other token.
    Other(String),
}

impl Method {
    /// The method's token as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Prack => "PRACK",
            Method::Update => "UPDATE",
            Method::Info => "INFO",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Publish => "PUBLISH",
            Method::Other(s) => s,
        }
    }

    /// Parses a method token. Methods are case-sensitive (RFC 3261 7.1);
    /// any other valid token becomes [`Method::Other`].
    pub fn from_token(token: &str) -> Result<Method, ParseError> {
        Ok(match token {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "REGISTER" => Method::Register,
            "PRACK" => Method::Prack,
            "UPDATE" => Method::Update,
            "INFO" => Method::Info,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "REFER" => Method::Refer,
            "MESSAGE" => Method::Message,
            "PUBLISH" => Method::Publish,
            other if !other.is_empty() && other.bytes().all(typed::is_token_char) => {
                Method::Other(other.to_string())
            }
            other => return Err(ParseError::BadMethod(other.chars().take(32).collect())),
        })
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A SIP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The Request-URI.
    pub uri: Uri,
    /// Headers in message order.
    pub headers: Headers,
    /// The body (its length is what Content-Length says).
    pub body: Bytes,
}

/// A SIP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code, 100 to 699.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// Headers in message order.
    pub headers: Headers,
    /// The body.
    pub body: Bytes,
}

/// A request or a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SipMessage {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

impl SipMessage {
    /// Parses one message from a datagram (or a frame cut by
    /// [`StreamFramer`]). Leading CRLFs (keep-alives) are skipped; bytes past
    /// Content-Length are ignored as RFC 3261 section 18.3 says.
    pub fn parse(datagram: Bytes) -> Result<SipMessage, ParseError> {
        parse::parse_message(datagram)
    }

    /// The request, if this is one.
    pub fn as_request(&self) -> Option<&Request> {
        match self {
            SipMessage::Request(r) => Some(r),
            SipMessage::Response(_) => None,
        }
    }

    /// The response, if this is one.
    pub fn as_response(&self) -> Option<&Response> {
        match self {
            SipMessage::Response(r) => Some(r),
            SipMessage::Request(_) => None,
        }
    }

    /// The headers of either kind.
    pub fn headers(&self) -> &Headers {
        match self {
            SipMessage::Request(r) => &r.headers,
            SipMessage::Response(r) => &r.headers,
        }
    }

    /// Serializes the message to wire bytes.
    pub fn to_bytes(&self) -> Bytes {
        match self {
            SipMessage::Request(r) => r.to_bytes(),
            SipMessage::Response(r) => r.to_bytes(),
        }
    }
}

/// The checks of the `sip_message` fuzz target, shared with the test that
/// replays its corpus: parse `data`; if it parses, read every typed header,
/// serialize, parse again and require the same wire form; and cut the same
/// bytes into frames with a [`StreamFramer`] fed in small chunks. Panics
/// only when an invariant is broken (a panic inside the parser, or a
/// serialized message that does not parse back to itself).
#[doc(hidden)]
pub fn fuzz_check(data: &[u8]) {
    fn touch<M: HeaderAccess>(m: &M) {
        // The borrowed fast paths must agree with the typed values.
        if let Ok(via) = m.top_via() {
            assert_eq!(m.top_via_branch(), via.branch(), "top_via_branch");
        }
        if let Ok(from) = m.from_header() {
            assert_eq!(m.from_tag(), from.tag(), "from_tag");
        }
        if let Ok(to) = m.to_header() {
            assert_eq!(m.to_tag(), to.tag(), "to_tag");
        }
        let _ = m.call_id();
        let _ = m.vias();
        let _ = m.from_header();
        let _ = m.to_header();
        let _ = m.cseq();
        let _ = m.contacts();
        let _ = m.routes();
        let _ = m.record_routes();
        let _ = m.max_forwards();
        let _ = m.content_length();
        let _ = m.expires();
        let _ = m.rseq();
        let _ = m.rack();
        let _ = m.content_type();
        let _ = m.tokens(HeaderName::Require);
        let _ = m.session_expires();
        let _ = m.reasons();
        let _ = m.challenges(HeaderName::WwwAuthenticate);
        let _ = m.challenges(HeaderName::ProxyAuthenticate);
        let _ = m.credentials(HeaderName::Authorization);
        let _ = m.check_single_valued();
    }
    fn touch_message(msg: &SipMessage) {
        match msg {
            SipMessage::Request(r) => touch(r),
            SipMessage::Response(r) => touch(r),
        }
    }

    if let Ok(msg) = SipMessage::parse(Bytes::copy_from_slice(data)) {
        touch_message(&msg);
        let wire = msg.to_bytes();
        let again = match SipMessage::parse(wire.clone()) {
            Ok(m) => m,
            Err(e) => panic!("serialized message does not parse: {e}\n{wire:?}"),
        };
        touch_message(&again);
        assert_eq!(again.to_bytes(), wire, "serialization is not stable");
    }
    let mut framer = StreamFramer::new();
    for chunk in data.chunks(61) {
        framer.push(chunk);
        while let Ok(Some(frame)) = framer.next_frame() {
            if let Ok(msg) = SipMessage::parse(frame) {
                touch_message(&msg);
            }
        }
    }
}

/// Typed accessors shared by requests and responses. Each parses its header
/// on demand, so a message that is only routed never pays for the rest.
pub trait HeaderAccess {
    /// The message's headers.
    fn headers(&self) -> &Headers;

    /// The Call-ID.
    fn call_id(&self) -> Result<&str, HeaderError> {
        self.headers()
            .get(&HeaderName::CallId)
            .filter(|v| !v.is_empty())
            .ok_or(HeaderError::Missing("Call-ID"))
    }

    /// The branch of the topmost Via, borrowed from the message: no
    /// allocation and no full Via parse, for matching transactions on
    /// every message (RFC 3261 17.1.3, 17.2.3). Agrees with
    /// `top_via()?.branch()` whenever the Via parses.
    fn top_via_branch(&self) -> Option<&str> {
        typed::via_param(self.headers().get(&HeaderName::Via)?, "branch")
    }

    /// The From tag, borrowed (see [`HeaderAccess::top_via_branch`]).
    /// Agrees with `from_header()?.tag()` whenever From parses.
    #[allow(clippy::wrong_self_convention)]
    fn from_tag(&self) -> Option<&str> {
        typed::name_addr_param(self.headers().get(&HeaderName::From)?, "tag")
    }

    /// The To tag, borrowed (see [`HeaderAccess::top_via_branch`]).
    /// Agrees with `to_header()?.tag()` whenever To parses.
    fn to_tag(&self) -> Option<&str> {
        typed::name_addr_param(self.headers().get(&HeaderName::To)?, "tag")
    }

    /// The topmost Via.
    fn top_via(&self) -> Result<Via, HeaderError> {
        let value = self
            .headers()
            .get(&HeaderName::Via)
            .ok_or(HeaderError::Missing("Via"))?;
        Via::parse(value)
    }

    /// Every Via, top first.
    fn vias(&self) -> Result<Vec<Via>, HeaderError> {
        self.headers()
            .get_all(&HeaderName::Via)
            .map(Via::parse)
            .collect()
    }

    /// The From header.
    // Named after the header, not a `from_*` constructor.
    #[allow(clippy::wrong_self_convention)]
    fn from_header(&self) -> Result<NameAddr, HeaderError> {
        NameAddr::parse(
            self.headers()
                .get(&HeaderName::From)
                .ok_or(HeaderError::Missing("From"))?,
        )
    }

    /// The To header.
    fn to_header(&self) -> Result<NameAddr, HeaderError> {
        NameAddr::parse(
            self.headers()
                .get(&HeaderName::To)
                .ok_or(HeaderError::Missing("To"))?,
        )
    }

    /// The CSeq header.
    fn cseq(&self) -> Result<CSeq, HeaderError> {
        CSeq::parse(
            self.headers()
                .get(&HeaderName::CSeq)
                .ok_or(HeaderError::Missing("CSeq"))?,
        )
    }

    /// Every Contact value (a `*` Contact is returned as an error-free empty
    /// list; use [`HeaderAccess::is_wildcard_contact`]).
    fn contacts(&self) -> Result<Vec<NameAddr>, HeaderError> {
        self.headers()
            .get_all(&HeaderName::Contact)
            .filter(|v| v.trim() != "*")
            .map(NameAddr::parse)
            .collect()
    }

    /// Whether the message carries `Contact: *` (REGISTER removal of all
    /// bindings).
    fn is_wildcard_contact(&self) -> bool {
        self.headers()
            .get_all(&HeaderName::Contact)
            .any(|v| v.trim() == "*")
    }

    /// Route values, in order.
    fn routes(&self) -> Result<Vec<NameAddr>, HeaderError> {
        self.headers()
            .get_all(&HeaderName::Route)
            .map(NameAddr::parse)
            .collect()
    }

    /// Record-Route values, in order.
    fn record_routes(&self) -> Result<Vec<NameAddr>, HeaderError> {
        self.headers()
            .get_all(&HeaderName::RecordRoute)
            .map(NameAddr::parse)
            .collect()
    }

    /// Max-Forwards, if present. Values above 255 are invalid (RFC 3261
    /// 20.22; RFC 4475 3.1.2.4).
    fn max_forwards(&self) -> Result<Option<u32>, HeaderError> {
        match typed::opt_number(self.headers(), HeaderName::MaxForwards, "Max-Forwards")? {
            Some(n) if n > 255 => Err(HeaderError::invalid("Max-Forwards", "larger than 255")),
            other => Ok(other),
        }
    }

    /// Checks that the headers RFC 3261 allows only once (Call-ID, CSeq,
    /// From, To, Max-Forwards, Content-Type, Content-Length) appear at most
    /// once; a UAS answers 400 otherwise (RFC 4475 3.3.8). The other
    /// accessors read the first value and do not check this.
    fn check_single_valued(&self) -> Result<(), HeaderError> {
        let single = [
            (HeaderName::CallId, "Call-ID"),
            (HeaderName::CSeq, "CSeq"),
            (HeaderName::From, "From"),
            (HeaderName::To, "To"),
            (HeaderName::MaxForwards, "Max-Forwards"),
            (HeaderName::ContentType, "Content-Type"),
            (HeaderName::ContentLength, "Content-Length"),
        ];
        for (name, label) in single {
            if self.headers().get_all(&name).nth(1).is_some() {
                return Err(HeaderError::invalid(label, "appears more than once"));
            }
        }
        Ok(())
    }

    /// Content-Length, if present.
    fn content_length(&self) -> Result<Option<u32>, HeaderError> {
        typed::opt_number(self.headers(), HeaderName::ContentLength, "Content-Length")
    }

    /// Expires, if present.
    fn expires(&self) -> Result<Option<u32>, HeaderError> {
        typed::opt_number(self.headers(), HeaderName::Expires, "Expires")
    }

    /// RSeq (RFC 3262), if present.
    fn rseq(&self) -> Result<Option<u32>, HeaderError> {
        typed::opt_number(self.headers(), HeaderName::RSeq, "RSeq")
    }

    /// RAck (RFC 3262), if present.
    fn rack(&self) -> Result<Option<RAck>, HeaderError> {
        self.headers()
            .get(&HeaderName::RAck)
            .map(RAck::parse)
            .transpose()
    }

    /// The media type of the body (`application/sdp`), lower-cased, without
    /// parameters.
    fn content_type(&self) -> Option<String> {
        self.headers().get(&HeaderName::ContentType).map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    }

    /// Tokens of a list header such as Allow, Supported or Require.
    fn tokens(&self, name: HeaderName) -> Vec<String> {
        self.headers()
            .get_all(&name)
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect()
    }

    /// Session-Expires (RFC 4028), if present.
    fn session_expires(&self) -> Result<Option<SessionExpires>, HeaderError> {
        self.headers()
            .get(&HeaderName::SessionExpires)
            .map(SessionExpires::parse)
            .transpose()
    }

    /// Reason values (RFC 3326).
    fn reasons(&self) -> Result<Vec<Reason>, HeaderError> {
        self.headers()
            .get_all(&HeaderName::Reason)
            .map(Reason::parse)
            .collect()
    }

    /// Digest or other challenges in WWW-Authenticate (401) or
    /// Proxy-Authenticate (407).
    fn challenges(&self, name: HeaderName) -> Result<Vec<Challenge>, HeaderError> {
        self.headers()
            .get_all(&name)
            .map(Challenge::parse)
            .collect()
    }

    /// Credentials in Authorization or Proxy-Authorization.
    fn credentials(&self, name: HeaderName) -> Result<Vec<Credentials>, HeaderError> {
        self.headers()
            .get_all(&name)
            .map(Credentials::parse)
            .collect()
    }
}

impl HeaderAccess for Request {
    fn headers(&self) -> &Headers {
        &self.headers
    }
}

impl HeaderAccess for Response {
    fn headers(&self) -> &Headers {
        &self.headers
    }
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: Method, uri: Uri) -> Request {
        Request {
            method,
            uri,
            headers: Headers::with_capacity(12),
            body: Bytes::new(),
        }
    }
}

impl Response {
    /// A response with the standard reason phrase for `status`.
    pub fn new(status: u16) -> Response {
        Response {
            status,
            reason: reason_phrase(status).to_string(),
            headers: Headers::with_capacity(10),
            body: Bytes::new(),
        }
    }

    /// Whether this is a provisional (1xx) response.
    pub fn is_provisional(&self) -> bool {
        self.status < 200
    }
}

/// The reason phrase RFC 3261 section 21 gives for a status code.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        421 => "Extension Required",
        422 => "Session Interval Too Small",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => "Unknown",
    }
}
