//! Cutting a byte stream (TCP, TLS) into messages by Content-Length
//! (RFC 3261 section 18.3), where every message must carry one.

use super::parse::MAX_MESSAGE_SIZE;
use bytes::{Buf, Bytes, BytesMut};
use thiserror::Error;

/// Why a stream cannot be framed any further. The connection should be
/// closed: there is no way to find the next message boundary.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FramingError {
    /// The header section grew past the size limit without ending.
    #[error("header section longer than {MAX_MESSAGE_SIZE} bytes")]
    HeaderTooLong,
    /// A message on a stream has no Content-Length.
    #[error("message on a stream transport without Content-Length")]
    MissingContentLength,
    /// Content-Length is not a number or is too large.
    #[error("invalid Content-Length on a stream transport")]
    BadContentLength,
}

/// Accumulates stream bytes and yields complete messages.
///
/// ```
/// use kuulo_sip::message::StreamFramer;
/// let mut f = StreamFramer::new();
/// f.push(b"\r\n\r\nOPTIONS sip:a@b SIP/2.0\r\nContent-Length: 2\r\n\r\nhi");
/// let frame = f.next_frame().unwrap().unwrap();
/// assert!(frame.ends_with(b"hi"));
/// assert!(f.next_frame().unwrap().is_none());
/// ```
#[derive(Debug, Default)]
pub struct StreamFramer {
    buf: BytesMut,
}

impl StreamFramer {
    /// An empty framer.
    pub fn new() -> StreamFramer {
        StreamFramer {
            buf: BytesMut::with_capacity(4096),
        }
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered and not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete message, `Ok(None)` when more bytes are needed.
    /// CRLF keep-alives (RFC 5626 3.5.1) between messages are skipped.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, FramingError> {
        let skip = self
            .buf
            .iter()
            .position(|b| !matches!(b, b'\r' | b'\n'))
            .unwrap_or(self.buf.len());
        self.buf.advance(skip);
        let Some(head_end) = find_head_end(&self.buf) else {
            if self.buf.len() > MAX_MESSAGE_SIZE {
                return Err(FramingError::HeaderTooLong);
            }
            return Ok(None);
        };
        let length = content_length(&self.buf[..head_end])?;
        if length > MAX_MESSAGE_SIZE || head_end + length > MAX_MESSAGE_SIZE {
            return Err(FramingError::BadContentLength);
        }
        if self.buf.len() < head_end + length {
            return Ok(None);
        }
        Ok(Some(self.buf.split_to(head_end + length).freeze()))
    }
}

/// Index just past the empty line ending the header section.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    let mut pos = 0;
    while let Some(nl) = memchr::memchr(b'\n', &buf[pos..]) {
        let next = pos + nl + 1;
        match buf.get(next) {
            Some(b'\n') => return Some(next + 1),
            Some(b'\r') if buf.get(next + 1) == Some(&b'\n') => return Some(next + 2),
            _ => pos = next,
        }
    }
    None
}

fn content_length(head: &[u8]) -> Result<usize, FramingError> {
    for line in head.split(|&b| b == b'\n') {
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
            let value = std::str::from_utf8(line[colon + 1..].trim_ascii())
                .map_err(|_| FramingError::BadContentLength)?;
            return super::parse::parse_content_length(value).ok_or(FramingError::BadContentLength);
        }
    }
    Err(FramingError::MissingContentLength)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_across_reads_and_pipelined() {
        let msg = b"BYE sip:a@b SIP/2.0\r\nl: 3\r\n\r\nabcINFO sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n";
        let mut f = StreamFramer::new();
        for chunk in msg.chunks(7) {
            f.push(chunk);
        }
        assert!(f.next_frame().unwrap().unwrap().ends_with(b"abc"));
        assert!(f.next_frame().unwrap().unwrap().starts_with(b"INFO"));
        assert_eq!(f.next_frame().unwrap(), None);
    }

    #[test]
    fn stream_errors() {
        let mut f = StreamFramer::new();
        f.push(b"BYE sip:a@b SIP/2.0\r\n\r\n");
        assert_eq!(f.next_frame(), Err(FramingError::MissingContentLength));
        let mut f = StreamFramer::new();
        f.push(b"BYE sip:a@b SIP/2.0\r\nContent-Length: 99999999\r\n\r\n");
        assert_eq!(f.next_frame(), Err(FramingError::BadContentLength));
        let mut f = StreamFramer::new();
        f.push(&vec![b'a'; MAX_MESSAGE_SIZE + 10]);
        assert_eq!(f.next_frame(), Err(FramingError::HeaderTooLong));
    }
}
