//! Serialization with CRLF line ends in RFC 8866 order.

use super::{Attribute, Connection, Line, SessionDescription};
use std::fmt;

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IN {} {}", self.addr_type.as_str(), self.address)
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attribute::RtpMap(m) => {
                write!(
                    f,
                    "rtpmap:{} {}/{}",
                    m.payload_type, m.encoding, m.clock_rate
                )?;
                match m.channels {
                    Some(c) => write!(f, "/{c}"),
                    None => Ok(()),
                }
            }
            Attribute::Fmtp {
                payload_type,
                params,
            } => write!(f, "fmtp:{payload_type} {params}"),
            Attribute::Ptime(p) => write!(f, "ptime:{p}"),
            Attribute::Direction(d) => f.write_str(d.as_str()),
            Attribute::Other { name, value: None } => f.write_str(name),
            Attribute::Other {
                name,
                value: Some(v),
            } => write!(f, "{name}:{v}"),
        }
    }
}

/// Writes uninterpreted lines whose type letter is in `kinds`, or, with
/// `kinds` empty, those RFC 8866 does not define at this level.
fn write_lines(
    f: &mut fmt::Formatter<'_>,
    lines: &[Line],
    kinds: &str,
    known: &str,
) -> fmt::Result {
    for l in lines {
        let pick = if kinds.is_empty() {
            !known.contains(l.kind)
        } else {
            kinds.contains(l.kind)
        };
        if pick {
            write!(f, "{}={}\r\n", l.kind, l.value)?;
        }
    }
    Ok(())
}

impl fmt::Display for SessionDescription {
    /// Writes the description with CRLF line ends in RFC 8866 order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SESSION: &str = "iuepbrzk";
        let o = &self.origin;
        write!(
            f,
            "v=0\r\no={} {} {} IN {} {}\r\ns={}\r\n",
            o.username,
            o.session_id,
            o.session_version,
            o.addr_type.as_str(),
            o.address,
            self.session_name
        )?;
        write_lines(f, &self.other_lines, "iuep", SESSION)?;
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        write_lines(f, &self.other_lines, "b", SESSION)?;
        for (start, stop) in &self.timing {
            write!(f, "t={start} {stop}\r\n")?;
        }
        write_lines(f, &self.other_lines, "rzk", SESSION)?;
        for a in &self.attributes {
            write!(f, "a={a}\r\n")?;
        }
        write_lines(f, &self.other_lines, "", SESSION)?;
        for m in &self.media {
            const MEDIA: &str = "ibk";
            write!(f, "m={} {}", m.media, m.port)?;
            if let Some(c) = m.port_count {
                write!(f, "/{c}")?;
            }
            write!(f, " {}", m.protocol)?;
            for fmt in &m.formats {
                write!(f, " {fmt}")?;
            }
            f.write_str("\r\n")?;
            write_lines(f, &m.other_lines, "i", MEDIA)?;
            if let Some(c) = &m.connection {
                write!(f, "c={c}\r\n")?;
            }
            write_lines(f, &m.other_lines, "bk", MEDIA)?;
            for a in &m.attributes {
                write!(f, "a={a}\r\n")?;
            }
            write_lines(f, &m.other_lines, "", MEDIA)?;
        }
        Ok(())
    }
}
