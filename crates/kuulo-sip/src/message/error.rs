//! Typed errors of the message layer. Each says what was wrong so a UAS can
//! put it in the reason phrase of its 400.

use thiserror::Error;

/// Why a message could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// Nothing but whitespace.
    #[error("empty message")]
    Empty,
    /// Larger than [`crate::message::MAX_MESSAGE_SIZE`].
    #[error("message of {0} bytes exceeds the {max} byte limit", max = crate::message::MAX_MESSAGE_SIZE)]
    TooLarge(usize),
    /// The header section never ends with an empty line.
    #[error("header section not terminated by an empty line")]
    Unterminated,
    /// The start line is neither a request line nor a status line.
    #[error("malformed start line: {0}")]
    StartLine(&'static str),
    /// The method is not a valid token.
    #[error("invalid method {0:?}")]
    BadMethod(String),
    /// The protocol version is not SIP/2.0.
    #[error("unsupported SIP version {0:?}")]
    BadVersion(String),
    /// The status code is not three digits from 100 to 699.
    #[error("invalid status code {0:?}")]
    BadStatus(String),
    /// The Request-URI did not parse.
    #[error("invalid Request-URI: {0}")]
    RequestUri(#[from] UriError),
    /// A header line without a colon, or with an invalid name.
    #[error("malformed header line {line}: {reason}")]
    HeaderLine {
        /// 1-based line number in the message.
        line: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// The header section is not UTF-8.
    #[error("header section is not valid UTF-8")]
    NotUtf8,
    /// Content-Length is not a number, or appears twice with different values.
    #[error("invalid Content-Length: {0}")]
    BadContentLength(String),
    /// The body is shorter than Content-Length says.
    #[error("body has {got} bytes but Content-Length says {expected}")]
    BodyTruncated {
        /// What Content-Length said.
        expected: usize,
        /// What arrived.
        got: usize,
    },
}

/// Why a typed header value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HeaderError {
    /// A header the request needs is absent.
    #[error("missing {0} header")]
    Missing(&'static str),
    /// The header is present but its value does not follow the grammar.
    #[error("invalid {name} header: {reason}")]
    Invalid {
        /// The header's canonical name.
        name: &'static str,
        /// What was wrong.
        reason: &'static str,
    },
    /// A URI inside the header did not parse.
    #[error("invalid URI in header: {0}")]
    Uri(#[from] UriError),
}

impl HeaderError {
    pub(crate) fn invalid(name: &'static str, reason: &'static str) -> HeaderError {
        HeaderError::Invalid { name, reason }
    }
}

/// Why a URI could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UriError {
    /// The scheme is not sip, sips or tel.
    #[error("unsupported URI scheme {0:?} (expected sip, sips or tel)")]
    Scheme(String),
    /// The host part is missing or malformed.
    #[error("invalid host {0:?}")]
    Host(String),
    /// The port is not a number from 0 to 65535.
    #[error("invalid port {0:?}")]
    Port(String),
    /// A %-escape is not two hex digits, or a character is not allowed.
    #[error("invalid character or escape in URI {0}")]
    Escape(&'static str),
    /// A tel: URI without a number.
    #[error("tel: URI without a telephone number")]
    TelNumber,
}
