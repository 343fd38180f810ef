//! Header names and the header index of a message.
//!
//! A parsed message keeps every header value as a [`Bytes`] slice of the
//! datagram it came from: building the index costs one `Vec` for the whole
//! message, never an allocation per header. Typed values (Via, CSeq, ...)
//! are parsed only when asked for, because a proxy-like hot path (match a
//! transaction, answer a retransmission) reads three or four headers of the
//! dozen a phone sends.

use bytes::Bytes;
use std::fmt;

macro_rules! header_names {
    ($( $variant:ident => $canonical:literal $(, $compact:literal)? ; )*) => {
        /// A header name. Known names are variants, compared and printed in
        /// their canonical form whatever case or compact form the peer used.
        #[derive(Clone, Debug)]
        pub enum HeaderName {
            $(
                #[doc = concat!("`", $canonical, "`")]
                $variant,
            )*
            /// Any other header, kept as the peer spelled it.
            Other(Bytes),
        }

        impl HeaderName {
            /// The canonical spelling of this name.
            pub fn as_str(&self) -> &str {
                match self {
                    $( HeaderName::$variant => $canonical, )*
                    HeaderName::Other(raw) => std::str::from_utf8(raw).unwrap_or("X-Invalid"),
                }
            }

            /// Recognises a header name: case-insensitive, with the compact
            /// forms of RFC 3261 section 7.3.3 and its extensions.
            pub fn from_bytes(raw: &[u8]) -> HeaderName {
                HeaderName::from_bytes_known(raw)
                    .unwrap_or_else(|| HeaderName::Other(Bytes::copy_from_slice(raw)))
            }

            /// Like [`HeaderName::from_bytes`], but an unknown name is kept as
            /// a slice of `source` (no copy).
            pub(crate) fn from_slice(source: &Bytes, start: usize, end: usize) -> HeaderName {
                match HeaderName::from_bytes_known(&source[start..end]) {
                    Some(name) => name,
                    None => HeaderName::Other(source.slice(start..end)),
                }
            }

            fn from_bytes_known(raw: &[u8]) -> Option<HeaderName> {
                if raw.len() == 1 {
                    let c = raw[0].to_ascii_lowercase();
                    $($(
                        if c == $compact { return Some(HeaderName::$variant); }
                    )?)*
                }
                $(
                    if raw.eq_ignore_ascii_case($canonical.as_bytes()) {
                        return Some(HeaderName::$variant);
                    }
                )*
                None
            }
        }
    };
}

header_names! {
    Via => "Via", b'v';
    From => "From", b'f';
    To => "To", b't';
    CallId => "Call-ID", b'i';
    CSeq => "CSeq";
    Contact => "Contact", b'm';
    MaxForwards => "Max-Forwards";
    ContentType => "Content-Type", b'c';
    ContentLength => "Content-Length", b'l';
    ContentEncoding => "Content-Encoding", b'e';
    Route => "Route";
    RecordRoute => "Record-Route";
    Expires => "Expires";
    Allow => "Allow";
    Supported => "Supported", b'k';
    Require => "Require";
    ProxyRequire => "Proxy-Require";
    Unsupported => "Unsupported";
    WwwAuthenticate => "WWW-Authenticate";
    ProxyAuthenticate => "Proxy-Authenticate";
    Authorization => "Authorization";
    ProxyAuthorization => "Proxy-Authorization";
    RSeq => "RSeq";
    RAck => "RAck";
    SessionExpires => "Session-Expires", b'x';
    MinSe => "Min-SE";
    Reason => "Reason";
    Subject => "Subject", b's';
    UserAgent => "User-Agent";
    Server => "Server";
    Accept => "Accept";
    Event => "Event", b'o';
    AllowEvents => "Allow-Events", b'u';
    ReferTo => "Refer-To", b'r';
    ReferredBy => "Referred-By", b'b';
    PAssertedIdentity => "P-Asserted-Identity";
    Date => "Date";
    Timestamp => "Timestamp";
    RetryAfter => "Retry-After";
    MinExpires => "Min-Expires";
    Warning => "Warning";
    AcceptContact => "Accept-Contact", b'a';
    RejectContact => "Reject-Contact", b'j';
    RequestDisposition => "Request-Disposition", b'd';
    Identity => "Identity", b'y';
}

impl HeaderName {
    /// Whether the grammar of this header is a comma-separated list, so one
    /// line may carry several values (RFC 3261 section 7.3.1). Headers whose
    /// single value contains commas (Date, the authentication headers) are
    /// never split.
    pub fn is_list(&self) -> bool {
        matches!(
            self,
            HeaderName::Via
                | HeaderName::Contact
                | HeaderName::Route
                | HeaderName::RecordRoute
                | HeaderName::Allow
                | HeaderName::Supported
                | HeaderName::Require
                | HeaderName::ProxyRequire
                | HeaderName::Unsupported
                | HeaderName::Accept
                | HeaderName::AllowEvents
                | HeaderName::PAssertedIdentity
        )
    }

    /// Case-insensitive comparison with a textual name (compact forms count).
    pub fn matches(&self, name: &str) -> bool {
        match self {
            HeaderName::Other(raw) => raw.eq_ignore_ascii_case(name.as_bytes()),
            known => HeaderName::from_bytes_known(name.as_bytes()).as_ref() == Some(known),
        }
    }
}

impl PartialEq for HeaderName {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (HeaderName::Other(a), HeaderName::Other(b)) => a.eq_ignore_ascii_case(b),
            (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
        }
    }
}

impl Eq for HeaderName {}

impl std::hash::Hash for HeaderName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        if let HeaderName::Other(raw) = self {
            for b in raw.iter() {
                state.write_u8(b.to_ascii_lowercase());
            }
        }
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for HeaderName {
    fn from(name: &str) -> Self {
        HeaderName::from_bytes(name.as_bytes())
    }
}

/// One header value: the name, and the value with surrounding whitespace
/// removed and folded lines joined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The header's name.
    pub name: HeaderName,
    /// The raw value bytes (UTF-8, checked when the message was parsed).
    pub value: Bytes,
}

impl Header {
    /// Builds a header from a name and a textual value.
    pub fn new(name: impl Into<HeaderName>, value: impl Into<String>) -> Header {
        Header {
            name: name.into(),
            value: Bytes::from(value.into()),
        }
    }

    /// The value as text. Values of parsed messages were checked to be UTF-8
    /// when the message was parsed, so this only fails for values built by
    /// hand from raw bytes.
    pub fn value_str(&self) -> &str {
        std::str::from_utf8(&self.value).unwrap_or("")
    }
}

/// The ordered headers of a message. Order is kept because it carries
/// meaning for Via, Route and Record-Route.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<Header>,
}

impl Headers {
    /// An empty header list.
    pub fn new() -> Headers {
        Headers::default()
    }

    /// An empty list with room for `n` headers.
    pub fn with_capacity(n: usize) -> Headers {
        Headers {
            entries: Vec::with_capacity(n),
        }
    }

    /// Appends a header.
    pub fn push(&mut self, name: impl Into<HeaderName>, value: impl Into<String>) {
        self.entries.push(Header::new(name, value));
    }

    /// Appends a header whose value is already bytes (no copy).
    pub fn push_bytes(&mut self, name: HeaderName, value: Bytes) {
        self.entries.push(Header { name, value });
    }

    /// Inserts a header before all others (used to add our Via on top).
    pub fn push_front(&mut self, name: impl Into<HeaderName>, value: impl Into<String>) {
        self.entries.insert(0, Header::new(name, value));
    }

    /// Replaces every value of `name` with one value.
    pub fn set(&mut self, name: impl Into<HeaderName>, value: impl Into<String>) {
        let name = name.into();
        self.remove(&name);
        self.entries.push(Header::new(name, value));
    }

    /// Removes every value of `name`.
    pub fn remove(&mut self, name: &HeaderName) {
        self.entries.retain(|h| &h.name != name);
    }

    /// The first value of `name`, as text.
    pub fn get(&self, name: &HeaderName) -> Option<&str> {
        self.entries
            .iter()
            .find(|h| &h.name == name)
            .map(Header::value_str)
    }

    /// Every value of `name`, in message order.
    pub fn get_all<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |h| &h.name == name)
            .map(Header::value_str)
    }

    /// Whether any value of `name` is present.
    pub fn contains(&self, name: &HeaderName) -> bool {
        self.entries.iter().any(|h| &h.name == name)
    }

    /// All headers in order.
    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.entries.iter()
    }

    /// Number of header values.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Replaces the first value of `name` (the top Via, when a request's
    /// received/rport parameters are filled in); appends if absent.
    pub fn replace_first(&mut self, name: &HeaderName, value: impl Into<String>) {
        match self.entries.iter_mut().find(|h| &h.name == name) {
            Some(h) => h.value = Bytes::from(value.into()),
            None => self.entries.push(Header::new(name.clone(), value)),
        }
    }

    /// Removes the first value of `name` and returns it.
    pub fn remove_first(&mut self, name: &HeaderName) -> Option<Header> {
        let index = self.entries.iter().position(|h| &h.name == name)?;
        Some(self.entries.remove(index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_case_insensitive_names() {
        assert_eq!(HeaderName::from_bytes(b"v"), HeaderName::Via);
        assert_eq!(HeaderName::from_bytes(b"I"), HeaderName::CallId);
        assert_eq!(HeaderName::from_bytes(b"cALL-id"), HeaderName::CallId);
        assert_eq!(HeaderName::from_bytes(b"l"), HeaderName::ContentLength);
        assert_eq!(HeaderName::from_bytes(b"x"), HeaderName::SessionExpires);
        assert_eq!(
            HeaderName::from_bytes(b"X-Custom"),
            HeaderName::Other(Bytes::from_static(b"X-Custom"))
        );
        assert!(HeaderName::CallId.matches("i"));
        assert!(HeaderName::Other(Bytes::from_static(b"X-A")).matches("x-a"));
    }
}
