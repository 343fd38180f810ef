//! Serialization to wire bytes. Content-Length is always written from the
//! body actually carried, so a message built by hand cannot lie about it.

use super::headers::{HeaderName, Headers};
use super::{Request, Response};
use bytes::{BufMut, Bytes, BytesMut};
use std::fmt::Write;

fn estimate(headers: &Headers, body: &Bytes) -> usize {
    128 + body.len()
        + headers
            .iter()
            .map(|h| h.name.as_str().len() + h.value.len() + 4)
            .sum::<usize>()
}

fn write_headers_and_body(buf: &mut BytesMut, headers: &Headers, body: &Bytes) {
    for h in headers.iter() {
        if h.name == HeaderName::ContentLength {
            continue;
        }
        buf.put_slice(h.name.as_str().as_bytes());
        buf.put_slice(b": ");
        buf.put_slice(&h.value);
        buf.put_slice(b"\r\n");
    }
    // BytesMut's fmt::Write cannot fail: it grows as needed.
    let _ = write!(buf, "Content-Length: {}\r\n\r\n", body.len());
    buf.put_slice(body);
}

impl Request {
    /// Serializes the request.
    pub fn to_bytes(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(estimate(&self.headers, &self.body));
        buf.put_slice(self.method.as_str().as_bytes());
        buf.put_slice(b" ");
        let _ = write!(buf, "{}", self.uri);
        buf.put_slice(b" SIP/2.0\r\n");
        write_headers_and_body(&mut buf, &self.headers, &self.body);
        buf.freeze()
    }
}

impl Response {
    /// Serializes the response.
    pub fn to_bytes(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(estimate(&self.headers, &self.body));
        buf.put_slice(b"SIP/2.0 ");
        let _ = write!(buf, "{}", self.status);
        buf.put_slice(b" ");
        buf.put_slice(self.reason.as_bytes());
        buf.put_slice(b"\r\n");
        write_headers_and_body(&mut buf, &self.headers, &self.body);
        buf.freeze()
    }
}
