//! sip:, sips: and tel: URIs (RFC 3261 section 19.1, RFC 3966).
//!
//! The user part keeps its %-escapes as sent, so a URI prints back exactly;
//! [`SipUri::user_unescaped`] decodes it when the value is needed. URI
//! comparison (RFC 3261 19.1.4) is [`SipUri::equivalent`], not `==`.

use super::error::UriError;
use super::typed::Params;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// A URI as used in a Request-URI or a name-addr.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Uri {
    /// A sip: or sips: URI.
    Sip(SipUri),
    /// A tel: URI.
    Tel(TelUri),
}

/// The host of a SIP URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    /// A domain name, as written.
    Domain(String),
    /// An IPv4 address.
    Ipv4(Ipv4Addr),
    /// An IPv6 address (written in brackets).
    Ipv6(Ipv6Addr),
}

/// A sip: or sips: URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipUri {
    /// `sips:` rather than `sip:`.
    pub secure: bool,
    /// The user part with its %-escapes.
    pub user: Option<String>,
    /// The password (deprecated, but valid syntax).
    pub password: Option<String>,
    /// The host.
    pub host: Host,
    /// The port, if given.
    pub port: Option<u16>,
    /// URI parameters (`;transport=tcp;lr`).
    pub params: Params,
    /// URI headers (`?subject=x`), raw.
    pub headers: Option<String>,
}

/// A tel: URI (RFC 3966).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TelUri {
    /// The number, e.g. `+358401234567`, as written.
    pub number: String,
    /// Parameters such as `phone-context`.
    pub params: Params,
}

impl Uri {
    /// Parses a URI.
    ///
    /// ```
    /// use kuulo_sip::message::Uri;
    /// let uri = Uri::parse("sip:survey@127.0.0.1:5080;transport=udp").unwrap();
    /// let Uri::Sip(sip) = &uri else { panic!() };
    /// assert_eq!(sip.port, Some(5080));
    /// assert_eq!(uri.to_string(), "sip:survey@127.0.0.1:5080;transport=udp");
    /// ```
    pub fn parse(s: &str) -> Result<Uri, UriError> {
        let (scheme, rest) = s
            .split_once(':')
            .ok_or_else(|| UriError::Scheme(s.chars().take(16).collect()))?;
        if scheme.eq_ignore_ascii_case("sip") {
            Ok(Uri::Sip(SipUri::parse_rest(false, rest)?))
        } else if scheme.eq_ignore_ascii_case("sips") {
            Ok(Uri::Sip(SipUri::parse_rest(true, rest)?))
        } else if scheme.eq_ignore_ascii_case("tel") {
            Ok(Uri::Tel(TelUri::parse_rest(rest)?))
        } else {
            Err(UriError::Scheme(scheme.chars().take(16).collect()))
        }
    }

    /// The SIP URI, if this is one.
    pub fn as_sip(&self) -> Option<&SipUri> {
        match self {
            Uri::Sip(u) => Some(u),
            Uri::Tel(_) => None,
        }
    }
}

impl SipUri {
    /// A `sip:user@host:port` URI.
    pub fn new(user: Option<&str>, host: Host, port: Option<u16>) -> SipUri {
        SipUri {
            secure: false,
            user: user.map(str::to_string),
            password: None,
            host,
            port,
            params: Params::default(),
            headers: None,
        }
    }

    fn parse_rest(secure: bool, rest: &str) -> Result<SipUri, UriError> {
        // The userinfo ends at the last '@': '@' is allowed neither in
        // parameters nor in headers (they escape it), while ';' and '?' may
        // legally appear inside the user part (RFC 3261 25.1
        // user-unreserved; RFC 4475 3.1.1.2 and 3.1.1.9).
        let (userinfo, after_user) = match rest.rfind('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let (hostpart, headers) = match after_user.split_once('?') {
            Some((a, h)) => (a, Some(h.to_string())),
            None => (after_user, None),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(ui) => {
                let (u, p) = match ui.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (ui, None),
                };
                check_escapes(u)?;
                if u.is_empty() || u.bytes().any(|b| b <= b' ' || b == b'<' || b == b'>') {
                    return Err(UriError::Escape("in the user part"));
                }
                if let Some(p) = p {
                    check_escapes(p)?;
                }
                (Some(u.to_string()), p.map(str::to_string))
            }
        };
        let (hostport, params) = match hostpart.split_once(';') {
            Some((h, p)) => (
                h,
                Params::parse(p).map_err(|_| UriError::Escape("in a parameter"))?,
            ),
            None => (hostpart, Params::default()),
        };
        let (host, port) = parse_hostport(hostport)?;
        Ok(SipUri {
            secure,
            user,
            password,
            host,
            port,
            params,
            headers,
        })
    }

    /// The user part with %-escapes decoded (lossy for invalid UTF-8).
    pub fn user_unescaped(&self) -> Option<String> {
        self.user.as_deref().map(unescape)
    }

    /// A URI parameter's value (`transport`, `maddr`, `lr` gives `Some("")`).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name)
    }

    /// Comparison by RFC 3261 section 19.1.4: the user part and password are
    /// case-sensitive after unescaping, host case-insensitive, and the
    /// parameters user, ttl, method, maddr and transport must match when
    /// either side has them.
    pub fn equivalent(&self, other: &SipUri) -> bool {
        if self.secure != other.secure
            || self.user_unescaped() != other.user_unescaped()
            || self.password.as_deref().map(unescape) != other.password.as_deref().map(unescape)
            || self.port != other.port
        {
            return false;
        }
        let hosts_match = match (&self.host, &other.host) {
            (Host::Domain(a), Host::Domain(b)) => a.eq_ignore_ascii_case(b),
            (a, b) => a == b,
        };
        if !hosts_match {
            return false;
        }
        for key in ["user", "ttl", "method", "maddr", "transport"] {
            let a = self.params.get(key).map(str::to_ascii_lowercase);
            let b = other.params.get(key).map(str::to_ascii_lowercase);
            if (a.is_some() || b.is_some()) && a != b {
                return false;
            }
        }
        for (k, v) in self.params.iter() {
            if let Some(ov) = other.params.get(k) {
                if !ov.eq_ignore_ascii_case(v.unwrap_or("")) {
                    return false;
                }
            }
        }
        true
    }
}

impl TelUri {
    fn parse_rest(rest: &str) -> Result<TelUri, UriError> {
        let (number, params) = match rest.split_once(';') {
            Some((n, p)) => (
                n,
                Params::parse(p).map_err(|_| UriError::Escape("in a parameter"))?,
            ),
            None => (rest, Params::default()),
        };
        let digits_ok = !number.is_empty()
            && number
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b"+-.()*#pPwW".contains(&b));
        if !digits_ok {
            return Err(UriError::TelNumber);
        }
        Ok(TelUri {
            number: number.to_string(),
            params,
        })
    }
}

fn parse_hostport(s: &str) -> Result<(Host, Option<u16>), UriError> {
    if let Some(v6) = s.strip_prefix('[') {
        let (addr, after) = v6
            .split_once(']')
            .ok_or_else(|| UriError::Host(s.chars().take(64).collect()))?;
        let ip: Ipv6Addr = addr
            .parse()
            .map_err(|_| UriError::Host(addr.chars().take(64).collect()))?;
        let port = match after {
            "" => None,
            p => {
                Some(parse_port(p.strip_prefix(':').ok_or_else(|| {
                    UriError::Port(p.chars().take(16).collect())
                })?)?)
            }
        };
        return Ok((Host::Ipv6(ip), port));
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(parse_port(p)?)),
        None => (s, None),
    };
    Ok((parse_host(host)?, port))
}

/// Parses a host: an IPv4 address, a bracketed IPv6 address, or a domain.
pub(crate) fn parse_host(host: &str) -> Result<Host, UriError> {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner
            .parse()
            .map(Host::Ipv6)
            .map_err(|_| UriError::Host(host.chars().take(64).collect()));
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok(Host::Ipv4(ip));
    }
    let valid = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !host.starts_with(['.', '-']);
    if !valid {
        return Err(UriError::Host(host.chars().take(64).collect()));
    }
    Ok(Host::Domain(host.to_string()))
}

fn parse_port(p: &str) -> Result<u16, UriError> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UriError::Port(p.chars().take(16).collect()));
    }
    p.parse()
        .map_err(|_| UriError::Port(p.chars().take(16).collect()))
}

fn check_escapes(s: &str) -> Result<(), UriError> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let ok =
                b.len() > i + 2 && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit();
            if !ok {
                return Err(UriError::Escape("(a % must be followed by two hex digits)"));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

/// Decodes %-escapes; invalid escapes are kept literally.
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::Ipv4(ip) => write!(f, "{ip}"),
            Host::Ipv6(ip) => write!(f, "[{ip}]"),
        }
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "sips:" } else { "sip:" })?;
        if let Some(user) = &self.user {
            f.write_str(user)?;
            if let Some(pw) = &self.password {
                write!(f, ":{pw}")?;
            }
            f.write_str("@")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        write!(f, "{}", self.params)?;
        if let Some(h) = &self.headers {
            write!(f, "?{h}")?;
        }
        Ok(())
    }
}

impl fmt::Display for TelUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tel:{}{}", self.number, self.params)
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uri::Sip(u) => u.fmt(f),
            Uri::Tel(u) => u.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_forms() {
        let u =
            Uri::parse("sips:alice:secret@[2001:db8::10]:5061;transport=tcp;lr?subject=x").unwrap();
        let Uri::Sip(s) = u else { panic!() };
        assert!(s.secure);
        assert_eq!(s.user.as_deref(), Some("alice"));
        assert_eq!(s.password.as_deref(), Some("secret"));
        assert_eq!(s.host, Host::Ipv6("2001:db8::10".parse().unwrap()));
        assert_eq!(s.port, Some(5061));
        assert_eq!(s.param("transport"), Some("tcp"));
        assert_eq!(s.param("lr"), Some(""));
        assert_eq!(s.headers.as_deref(), Some("subject=x"));

        let t = Uri::parse("tel:+358-40-123-4567;phone-context=+358").unwrap();
        assert_eq!(t.to_string(), "tel:+358-40-123-4567;phone-context=+358");
    }

    #[test]
    fn escapes_and_comparison() {
        let a = SipUri::parse_rest(false, "%61lice@EXAMPLE.com;transport=UDP").unwrap();
        let b = SipUri::parse_rest(false, "alice@example.com;transport=udp").unwrap();
        assert!(a.equivalent(&b));
        assert_eq!(a.user_unescaped().as_deref(), Some("alice"));
        let c = SipUri::parse_rest(false, "alice@example.com").unwrap();
        assert!(!b.equivalent(&c), "transport on one side only differs");
    }

    #[test]
    fn bad_uris_are_typed_errors() {
        for bad in [
            "http://example.com",
            "sip:",
            "sip:user@",
            "sip:host:99999",
            "sip:host:port",
            "sip:us%zzer@host",
            "sip:[::1",
            "tel:",
            "tel:abc xyz",
            "nocolon",
        ] {
            assert!(Uri::parse(bad).is_err(), "{bad} should fail");
        }
    }
}
