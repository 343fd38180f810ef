//! Parsing, lenient where phones differ and strict where a mistake would
//! misroute audio.

use super::{
    clip, AddrType, Attribute, Connection, Direction, Line, MediaDescription, Origin, RtpMap,
    SdpError, SessionDescription,
};
use std::str::FromStr;

fn invalid(line: usize, what: &'static str, value: &str) -> SdpError {
    SdpError::Invalid {
        line,
        what,
        value: clip(value),
    }
}

fn parse_connection(n: usize, v: &str) -> Result<Connection, SdpError> {
    let mut it = v.split_ascii_whitespace();
    let (net, addr_type, address) = match (it.next(), it.next(), it.next(), it.next()) {
        (Some(a), Some(b), Some(c), None) => (a, b, c),
        _ => return Err(invalid(n, "c= line (IN <IP4|IP6> <address>)", v)),
    };
    if net != "IN" {
        return Err(invalid(n, "c= network type (IN)", net));
    }
    let addr_type = AddrType::parse(addr_type)
        .ok_or_else(|| invalid(n, "c= address type (IP4 or IP6)", addr_type))?;
    Ok(Connection {
        addr_type,
        address: address.to_string(),
    })
}

fn parse_origin(n: usize, v: &str) -> Result<Origin, SdpError> {
    let parts: Vec<&str> = v.split_ascii_whitespace().collect();
    let &[username, id, version, net, addr_type, address] = parts.as_slice() else {
        return Err(invalid(n, "o= line (6 fields)", v));
    };
    if net != "IN" {
        return Err(invalid(n, "o= network type (IN)", net));
    }
    let addr_type = AddrType::parse(addr_type)
        .ok_or_else(|| invalid(n, "o= address type (IP4 or IP6)", addr_type))?;
    Ok(Origin {
        username: username.to_string(),
        session_id: id.to_string(),
        session_version: version.to_string(),
        addr_type,
        address: address.to_string(),
    })
}

fn parse_media(n: usize, v: &str) -> Result<MediaDescription, SdpError> {
    let mut it = v.split_ascii_whitespace();
    let (media, port, protocol) = match (it.next(), it.next(), it.next()) {
        (Some(a), Some(b), Some(c)) => (a, b, c),
        _ => return Err(invalid(n, "m= line (<media> <port> <proto> <fmt>...)", v)),
    };
    let (port, count) = match port.split_once('/') {
        Some((p, c)) => (p, Some(c)),
        None => (port, None),
    };
    let port = port
        .parse::<u16>()
        .map_err(|_| invalid(n, "m= port", port))?;
    let port_count = count
        .map(|c| c.parse::<u16>().map_err(|_| invalid(n, "m= port count", c)))
        .transpose()?;
    Ok(MediaDescription {
        media: media.to_string(),
        port,
        port_count,
        protocol: protocol.to_string(),
        formats: it.map(str::to_string).collect(),
        connection: None,
        attributes: Vec::new(),
        other_lines: Vec::new(),
    })
}

fn parse_pt(n: usize, s: &str) -> Result<u8, SdpError> {
    s.parse::<u8>()
        .ok()
        .filter(|pt| *pt < 128)
        .ok_or_else(|| invalid(n, "payload type (0-127)", s))
}

fn parse_rtpmap(n: usize, v: &str) -> Result<RtpMap, SdpError> {
    let (pt, rest) = v
        .split_once(' ')
        .ok_or_else(|| invalid(n, "rtpmap (<pt> <encoding>/<rate>)", v))?;
    let payload_type = parse_pt(n, pt)?;
    let mut parts = rest.trim().split('/');
    let encoding = parts.next().unwrap_or_default();
    if encoding.is_empty() || encoding.contains(char::is_whitespace) {
        return Err(invalid(n, "rtpmap encoding name", rest));
    }
    let clock_rate = parts
        .next()
        .and_then(|r| r.parse::<u32>().ok())
        .filter(|r| *r > 0)
        .ok_or_else(|| invalid(n, "rtpmap clock rate", rest))?;
    let channels = parts
        .next()
        .map(|c| {
            c.parse::<u16>()
                .map_err(|_| invalid(n, "rtpmap channels", rest))
        })
        .transpose()?;
    if parts.next().is_some() {
        return Err(invalid(n, "rtpmap (too many / fields)", rest));
    }
    Ok(RtpMap {
        payload_type,
        encoding: encoding.to_string(),
        clock_rate,
        channels,
    })
}

fn parse_attribute(n: usize, v: &str) -> Result<Attribute, SdpError> {
    let (name, value) = match v.split_once(':') {
        Some((name, value)) => (name, Some(value)),
        None => (v, None),
    };
    if name.is_empty() {
        return Err(invalid(n, "attribute name", v));
    }
    Ok(match (name, value) {
        ("rtpmap", Some(value)) => Attribute::RtpMap(parse_rtpmap(n, value)?),
        ("fmtp", Some(value)) => match value.split_once(' ') {
            // A non-numeric format belongs to a non-RTP transport; keep it.
            Some((pt, params)) if pt.parse::<u8>().is_ok() => Attribute::Fmtp {
                payload_type: parse_pt(n, pt)?,
                params: params.trim().to_string(),
            },
            _ => other(name, Some(value)),
        },
        ("ptime", Some(value)) => {
            // Some phones write "20.0"; accept whole or decimal milliseconds.
            let ms = value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|ms| ms.is_finite() && *ms >= 1.0 && *ms <= 10_000.0)
                .ok_or_else(|| invalid(n, "ptime (milliseconds)", value))?;
            Attribute::Ptime(ms.round() as u32)
        }
        (name, None) => match Direction::parse(name) {
            Some(d) => Attribute::Direction(d),
            None => other(name, None),
        },
        (name, value) => other(name, value),
    })
}

fn other(name: &str, value: Option<&str>) -> Attribute {
    Attribute::Other {
        name: name.to_string(),
        value: value.map(str::to_string),
    }
}

impl FromStr for SessionDescription {
    type Err = SdpError;

    fn from_str(text: &str) -> Result<Self, SdpError> {
        let mut lines = text
            .split('\n')
            .enumerate()
            .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
            // Tolerate blank lines, notably the one a trailing CRLF leaves.
            .filter(|(_, l)| !l.trim().is_empty());
        let split = |(n, l): (usize, &str)| -> Result<(usize, char, String), SdpError> {
            let mut chars = l.chars();
            match (chars.next(), chars.next()) {
                (Some(k), Some('=')) if k.is_ascii_lowercase() => {
                    Ok((n, k, l[2..].trim_end().to_string()))
                }
                _ => Err(SdpError::MalformedLine {
                    line: n,
                    text: clip(l),
                }),
            }
        };
        let first = lines.next().ok_or(SdpError::Empty)?;
        let (n, k, v) = split(first)?;
        if k != 'v' {
            return Err(SdpError::Missing("must start with a v= line"));
        }
        if v != "0" {
            return Err(invalid(n, "protocol version (0)", &v));
        }
        let mut origin = None;
        let mut session_name = None;
        let mut connection = None;
        let mut timing = Vec::new();
        let mut attributes = Vec::new();
        let mut other_lines = Vec::new();
        let mut media: Vec<MediaDescription> = Vec::new();
        for line in lines {
            let (n, k, v) = split(line)?;
            if k == 'm' {
                media.push(parse_media(n, &v)?);
                continue;
            }
            if let Some(m) = media.last_mut() {
                match k {
                    'c' if m.connection.is_none() => m.connection = Some(parse_connection(n, &v)?),
                    'a' => m.attributes.push(parse_attribute(n, &v)?),
                    'v' | 'o' | 's' | 't' | 'c' => {
                        return Err(invalid(
                            n,
                            "repeated or misplaced line in a media section",
                            &v,
                        ))
                    }
                    _ => m.other_lines.push(Line { kind: k, value: v }),
                }
                continue;
            }
            match k {
                'o' if origin.is_none() => origin = Some(parse_origin(n, &v)?),
                's' if session_name.is_none() => session_name = Some(v),
                'c' if connection.is_none() => connection = Some(parse_connection(n, &v)?),
                't' => {
                    let mut it = v.split_ascii_whitespace().map(str::parse::<u64>);
                    match (it.next(), it.next(), it.next()) {
                        (Some(Ok(a)), Some(Ok(b)), None) => timing.push((a, b)),
                        _ => return Err(invalid(n, "t= line (<start> <stop>)", &v)),
                    }
                }
                'a' => attributes.push(parse_attribute(n, &v)?),
                'v' | 'o' | 's' | 'c' => return Err(invalid(n, "repeated line", &v)),
                _ => other_lines.push(Line { kind: k, value: v }),
            }
        }
        Ok(SessionDescription {
            origin: origin.ok_or(SdpError::Missing("has no o= line"))?,
            session_name: session_name.ok_or(SdpError::Missing("has no s= line"))?,
            connection,
            timing,
            attributes,
            other_lines,
            media,
        })
    }
}
