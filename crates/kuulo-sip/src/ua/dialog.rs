//! Dialog state (RFC 3261 section 12) and the requests built inside one.

use crate::message::{HeaderAccess, HeaderName, Host, Method, NameAddr, Request, Response, Uri};
use crate::transport::Peer;
use bytes::Bytes;
use std::net::{IpAddr, SocketAddr};

/// Which side created the dialog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialogRole {
    /// We sent the INVITE.
    Uac,
    /// We received it.
    Uas,
}

/// The state RFC 3261 12 keeps per dialog.
#[derive(Clone, Debug)]
pub struct Dialog {
    /// Who sent the INVITE.
    pub role: DialogRole,
    /// The Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag (none while a UAC waits for its first tagged response).
    pub remote_tag: Option<String>,
    /// Our From/To value without tag (as it goes on the wire).
    pub local_uri: String,
    /// The peer's From/To value without tag.
    pub remote_uri: String,
    /// Our next CSeq number.
    pub local_cseq: u32,
    /// The highest CSeq number seen from the peer.
    pub remote_cseq: Option<u32>,
    /// Where in-dialog requests go: the peer's Contact.
    pub remote_target: Uri,
    /// Route set, in the order requests carry it.
    pub route_set: Vec<String>,
    /// The address the dialog's messages travel to when the route set or
    /// remote target does not name an IP literal (no DNS in the core).
    pub peer: Peer,
}

impl Dialog {
    /// The From value of requests we send.
    pub fn from_value(&self) -> String {
        format!("{};tag={}", self.local_uri, self.local_tag)
    }

    /// The To value of requests we send.
    pub fn to_value(&self) -> String {
        match &self.remote_tag {
            Some(t) => format!("{};tag={t}", self.remote_uri),
            None => self.remote_uri.clone(),
        }
    }

    /// The next hop of an in-dialog request: the first Route, else the
    /// remote target, when it is an IP literal; else the dialog's peer.
    pub fn next_hop(&self) -> Peer {
        let uri = match self.route_set.first() {
            Some(r) => NameAddr::parse(r).ok().map(|n| n.uri),
            None => Some(self.remote_target.clone()),
        };
        uri.as_ref()
            .and_then(uri_socket_addr)
            .map(|addr| Peer {
                addr,
                transport: self.peer.transport,
            })
            .unwrap_or(self.peer)
    }

    /// A new in-dialog request (BYE, re-INVITE, UPDATE...) with the next
    /// CSeq. The Via is added by the endpoint.
    pub fn request(&mut self, method: Method, contact: &str) -> Request {
        self.local_cseq += 1;
        self.request_with_cseq(method, self.local_cseq, contact)
    }

    /// An in-dialog request with a given CSeq (the ACK reuses the INVITE's).
    pub fn request_with_cseq(&self, method: Method, cseq: u32, contact: &str) -> Request {
        let mut r = Request::new(method.clone(), self.remote_target.clone());
        for route in &self.route_set {
            r.headers.push(HeaderName::Route, route.as_str());
        }
        r.headers.push(HeaderName::MaxForwards, "70");
        r.headers.push(HeaderName::From, self.from_value());
        r.headers.push(HeaderName::To, self.to_value());
        r.headers.push(HeaderName::CallId, self.call_id.as_str());
        r.headers.push(HeaderName::CSeq, format!("{cseq} {method}"));
        if matches!(method, Method::Invite | Method::Update) {
            r.headers.push(HeaderName::Contact, contact);
        }
        r
    }

    /// Updates the remote target and route set from a 2xx (UAC) as RFC 3261
    /// 12.1.2 says: route set is the Record-Route reversed.
    pub fn confirm_from_response(&mut self, response: &Response) {
        if let Ok(to) = response.to_header() {
            if let Some(tag) = to.tag() {
                self.remote_tag = Some(tag.to_string());
            }
        }
        if let Some(c) = response.contacts().ok().and_then(|c| c.into_iter().next()) {
            self.remote_target = c.uri;
        }
        let mut rr: Vec<String> = response
            .headers
            .get_all(&HeaderName::RecordRoute)
            .map(str::to_string)
            .collect();
        rr.reverse();
        self.route_set = rr;
    }

    /// Builds the ACK for a 2xx (RFC 3261 13.2.2.4): CSeq number of the
    /// INVITE, a new branch, the route set, and the INVITE's auth headers.
    pub fn ack_for_2xx(&self, invite_cseq: u32, contact: &str, via: String) -> Request {
        let mut ack = self.request_with_cseq(Method::Ack, invite_cseq, contact);
        ack.headers.push_front(HeaderName::Via, via);
        ack
    }

    /// Whether a request's CSeq is new (RFC 3261 12.2.2: lower means
    /// out of order, answered with 500).
    pub fn accept_remote_cseq(&mut self, seq: u32) -> bool {
        match self.remote_cseq {
            Some(prev) if seq < prev => false,
            _ => {
                self.remote_cseq = Some(seq);
                true
            }
        }
    }
}

/// The socket address of a URI whose host is an IP literal; the default
/// port is 5060.
pub fn uri_socket_addr(uri: &Uri) -> Option<SocketAddr> {
    let sip = uri.as_sip()?;
    let maddr = sip.param("maddr").and_then(|m| m.parse::<IpAddr>().ok());
    let ip: IpAddr = match (&sip.host, maddr) {
        (_, Some(m)) => m,
        (Host::Ipv4(a), None) => IpAddr::V4(*a),
        (Host::Ipv6(a), None) => IpAddr::V6(*a),
        (Host::Domain(d), None) if d.eq_ignore_ascii_case("localhost") => {
            IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
        }
        (Host::Domain(_), None) => return None,
    };
    Some(SocketAddr::new(ip, sip.port.unwrap_or(5060)))
}

/// A random tag for From/To (RFC 3261 19.3: at least 32 bits of randomness).
pub fn new_tag() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// A random Call-ID at our host.
pub fn new_call_id(host: &str) -> String {
    format!(
        "{:016x}{:08x}@{host}",
        rand::random::<u64>(),
        rand::random::<u32>()
    )
}

/// The body of a message if it is SDP, else empty.
pub fn sdp_body(headers_ct: Option<String>, body: &Bytes) -> Option<Bytes> {
    match headers_ct.as_deref() {
        Some("application/sdp") if !body.is_empty() => Some(body.clone()),
        _ => None,
    }
}
