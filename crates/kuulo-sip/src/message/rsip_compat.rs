//! Conversions to and from [`rsip`]'s message types, for vendors whose code
//! already speaks rsip (feature `rsip`).
//!
//! Both directions go through the wire form: the message is serialized by
//! one library and parsed by the other. That keeps the two models
//! independent (rsip has no compact forms, folding or multi-value splitting
//! to map) at the cost of one serialize and one parse per conversion, and a
//! conversion fails exactly when the other side's parser rejects the bytes.
//! Bodies are carried as raw octets in both directions. rsip keeps no
//! reason phrase for the status codes it knows (it prints `486 BusyHere`),
//! so a response converted back from rsip gets the standard phrase of
//! RFC 3261 section 21 for those codes.
//!
//! ```
//! use kuulo_sip::message::SipMessage;
//! let raw = b"OPTIONS sip:survey@127.0.0.1 SIP/2.0\r\n\
//! Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK776asdhds\r\n\
//! From: <sip:probe@127.0.0.1>;tag=1928301774\r\n\
//! To: <sip:survey@127.0.0.1>\r\n\
//! Call-ID: a84b4c76e66710\r\n\
//! CSeq: 63104 OPTIONS\r\n\
//! Content-Length: 0\r\n\r\n";
//! let ours = SipMessage::parse(bytes::Bytes::from_static(raw)).unwrap();
//! let theirs = rsip::SipMessage::try_from(&ours).unwrap();
//! let back = SipMessage::try_from(&theirs).unwrap();
//! assert_eq!(back, ours);
//! ```

use super::{ParseError, SipMessage};
use bytes::{BufMut, BytesMut};
use thiserror::Error;

/// Why a message could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RsipConvertError {
    /// rsip's parser rejected our serialized message.
    #[error("rsip rejected the message: {0}")]
    Rsip(String),
    /// Our parser rejected rsip's serialized message.
    #[error("rsip produced a message we cannot parse: {0}")]
    Parse(#[from] ParseError),
}

impl TryFrom<&SipMessage> for rsip::SipMessage {
    type Error = RsipConvertError;

    /// Serializes `msg` and parses the bytes with rsip.
    fn try_from(msg: &SipMessage) -> Result<Self, Self::Error> {
        rsip::SipMessage::try_from(msg.to_bytes())
            .map_err(|e| RsipConvertError::Rsip(e.to_string()))
    }
}

impl TryFrom<&rsip::SipMessage> for SipMessage {
    type Error = RsipConvertError;

    /// Serializes `msg` with rsip and parses the bytes with ours. rsip
    /// prints bodies as text, so the head is printed without the body and
    /// the body octets are appended unchanged.
    fn try_from(msg: &rsip::SipMessage) -> Result<Self, Self::Error> {
        let mut head = msg.clone();
        let body = std::mem::take(head.body_mut());
        let head = head.to_string();
        let mut wire = BytesMut::with_capacity(head.len() + body.len());
        wire.put_slice(head.as_bytes());
        wire.put_slice(&body);
        let mut ours = SipMessage::parse(wire.freeze())?;
        if let (SipMessage::Response(r), rsip::SipMessage::Response(theirs)) = (&mut ours, msg) {
            let standard = super::reason_phrase(r.status);
            if !matches!(theirs.status_code, rsip::StatusCode::Other(..)) && standard != "Unknown" {
                r.reason = standard.to_string();
            }
        }
        Ok(ours)
    }
}

impl TryFrom<SipMessage> for rsip::SipMessage {
    type Error = RsipConvertError;

    fn try_from(msg: SipMessage) -> Result<Self, Self::Error> {
        rsip::SipMessage::try_from(&msg)
    }
}

impl TryFrom<rsip::SipMessage> for SipMessage {
    type Error = RsipConvertError;

    fn try_from(msg: rsip::SipMessage) -> Result<Self, Self::Error> {
        SipMessage::try_from(&msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{HeaderAccess, Method};
    use bytes::Bytes;
    use rsip::prelude::*;

    const INVITE: &[u8] = b"INVITE sip:+358401234567@example.fi SIP/2.0\r\n\
v: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK74bf9a8f;rport\r\n\
Max-Forwards: 70\r\n\
f: \"Kuulo\" <sip:kuulo@example.fi>;tag=9fxced76sl\r\n\
t: <sip:+358401234567@example.fi>\r\n\
i: 3848276298220188511@192.0.2.20\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:kuulo@192.0.2.20:5060>\r\n\
Content-Type: application/octet-stream\r\n\
l: 6\r\n\r\n\
\x00\xff\x80ab\n";

    #[test]
    fn ours_to_rsip_and_back() {
        let ours = SipMessage::parse(Bytes::from_static(INVITE)).unwrap();
        let theirs = rsip::SipMessage::try_from(&ours).unwrap();
        let rsip::SipMessage::Request(req) = &theirs else {
            panic!("not a request")
        };
        assert_eq!(req.method, rsip::Method::Invite);
        assert_eq!(
            theirs.call_id_header().unwrap().value(),
            "3848276298220188511@192.0.2.20"
        );
        assert_eq!(theirs.cseq_header().unwrap().seq().unwrap(), 1);
        let from_tag = theirs.from_header().unwrap().tag().unwrap().unwrap();
        assert_eq!(from_tag.value(), "9fxced76sl");
        assert_eq!(theirs.body(), b"\x00\xff\x80ab\n");

        let back = SipMessage::try_from(&theirs).unwrap();
        assert_eq!(back, ours);
        let req = back.as_request().unwrap();
        assert_eq!(req.method, Method::Invite);
        assert_eq!(req.top_via().unwrap().branch(), Some("z9hG4bK74bf9a8f"));
        assert_eq!(&req.body[..], b"\x00\xff\x80ab\n");
    }

    #[test]
    fn responses_convert_and_errors_are_typed() {
        let raw = b"SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP 192.0.2.20;branch=z9hG4bKx\r\n\
From: <sip:a@example.fi>;tag=1\r\nTo: <sip:b@example.fi>;tag=2\r\nCall-ID: c1\r\n\
CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        let ours = SipMessage::parse(Bytes::from_static(raw)).unwrap();
        let theirs: rsip::SipMessage = ours.clone().try_into().unwrap();
        let rsip::SipMessage::Response(resp) = &theirs else {
            panic!("not a response")
        };
        assert_eq!(resp.status_code.code(), 486);
        let back: SipMessage = theirs.try_into().unwrap();
        assert_eq!(back, ours);

        // A message rsip cannot parse gives the rsip variant.
        let odd = b"OPTIONS tel:+358401234567 SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKy\r\n\
From: <sip:a@example.fi>;tag=1\r\nTo: <sip:b@example.fi>\r\nCall-ID: c2\r\nCSeq: 1 OPTIONS\r\n\
Content-Length: 0\r\n\r\n";
        let ours = SipMessage::parse(Bytes::from_static(odd)).unwrap();
        if let Err(e) = rsip::SipMessage::try_from(&ours) {
            assert!(matches!(e, RsipConvertError::Rsip(_)));
        }
    }
}
