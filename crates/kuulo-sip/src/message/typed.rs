//! Typed header values, parsed on demand from the raw header index.

use super::error::HeaderError;
use super::headers::{HeaderName, Headers};
use super::uri::{parse_host, Host, Uri};
use super::Method;
use std::fmt;

/// RFC 3261 `token` characters.
pub(crate) fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

pub(crate) fn opt_number(
    headers: &Headers,
    name: HeaderName,
    label: &'static str,
) -> Result<Option<u32>, HeaderError> {
    headers
        .get(&name)
        .map(|v| {
            let v = v.trim();
            if v.is_empty() || v.len() > 10 || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HeaderError::invalid(label, "not a decimal number"));
            }
            v.parse()
                .map_err(|_| HeaderError::invalid(label, "number out of range"))
        })
        .transpose()
}

/// `;name=value` parameters, in order. A flag parameter (`;lr`) has no
/// value. Quoted values keep their quotes so they print back unchanged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, Option<String>)>);

impl Params {
    /// Parses the text after the first `;` (`a=b;c;d="x;y"`).
    pub fn parse(s: &str) -> Result<Params, HeaderError> {
        let mut out = Vec::new();
        if s.trim_ascii().is_empty() {
            return Ok(Params(out));
        }
        for piece in split_outside_quotes(s, b';') {
            let piece = piece.trim_ascii();
            if piece.is_empty() {
                // `;;` or a trailing `;`: generic-param needs a token
                // (RFC 3261 25.1; RFC 4475 3.1.2.1).
                return Err(HeaderError::invalid("parameter", "empty parameter"));
            }
            match memchr::memchr(b'=', piece.as_bytes()) {
                Some(eq) => {
                    let k = piece[..eq].trim_ascii();
                    if k.is_empty() {
                        return Err(HeaderError::invalid("parameter", "empty parameter name"));
                    }
                    let v = piece[eq + 1..].trim_ascii();
                    out.push((k.to_string(), Some(v.to_string())));
                }
                None => out.push((piece.to_string(), None)),
            }
        }
        Ok(Params(out))
    }

    /// A parameter's value, names compared case-insensitively; a flag gives
    /// `Some("")`. Quotes around a value are removed.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref().map(unquote_str).unwrap_or(""))
    }

    /// Whether the parameter is present (with or without value).
    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
    }

    /// Sets (or replaces) a parameter.
    pub fn set(&mut self, name: &str, value: Option<&str>) {
        let value = value.map(str::to_string);
        match self
            .0
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            Some(entry) => entry.1 = value,
            None => self.0.push((name.to_string(), value)),
        }
    }

    /// Removes a parameter.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    }

    /// All parameters in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_deref()))
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, v) in &self.0 {
            match v {
                Some(v) => write!(f, ";{k}={v}")?,
                None => write!(f, ";{k}")?,
            }
        }
        Ok(())
    }
}

fn unquote_str(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

/// Splits at `sep` outside double-quoted strings (with `\` escapes),
/// without collecting the pieces.
fn split_outside_quotes(s: &str, sep: u8) -> SplitOutsideQuotes<'_> {
    SplitOutsideQuotes {
        s,
        sep,
        pos: 0,
        done: false,
        quotes: memchr::memchr(b'"', s.as_bytes()).is_some(),
    }
}

struct SplitOutsideQuotes<'a> {
    s: &'a str,
    sep: u8,
    pos: usize,
    done: bool,
    /// Whether `s` has any quote at all; without one a plain byte search
    /// finds each separator.
    quotes: bool,
}

impl<'a> Iterator for SplitOutsideQuotes<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.done {
            return None;
        }
        let bytes = self.s.as_bytes();
        if !self.quotes {
            return Some(match memchr::memchr(self.sep, &bytes[self.pos..]) {
                Some(at) => {
                    let piece = &self.s[self.pos..self.pos + at];
                    self.pos += at + 1;
                    piece
                }
                None => {
                    self.done = true;
                    &self.s[self.pos..]
                }
            });
        }
        let mut in_quotes = false;
        let mut escaped = false;
        for (i, &b) in bytes.iter().enumerate().skip(self.pos) {
            if escaped {
                escaped = false;
                continue;
            }
            match b {
                b'\\' if in_quotes => escaped = true,
                b'"' => in_quotes = !in_quotes,
                _ if b == self.sep && !in_quotes => {
                    let piece = &self.s[self.pos..i];
                    self.pos = i + 1;
                    return Some(piece);
                }
                _ => {}
            }
        }
        self.done = true;
        Some(&self.s[self.pos..])
    }
}

/// A name-addr or addr-spec: From, To, Contact, Route, Record-Route,
/// P-Asserted-Identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name without quotes or escapes.
    pub display: Option<String>,
    /// The URI.
    pub uri: Uri,
    /// Header parameters (`tag`, `expires`, `q`...).
    pub params: Params,
}

impl NameAddr {
    /// A name-addr with no display name or parameters.
    pub fn new(uri: Uri) -> NameAddr {
        NameAddr {
            display: None,
            uri,
            params: Params::default(),
        }
    }

    /// Parses `"Name" <uri>;params`, `Name <uri>`, or `uri;params`.
    pub fn parse(s: &str) -> Result<NameAddr, HeaderError> {
        const NAME: &str = "name-addr";
        let s = s.trim();
        let (display, rest) = if let Some(q) = s.strip_prefix('"') {
            let end = closing_quote(q).ok_or(HeaderError::invalid(
                NAME,
                "unterminated quoted display name",
            ))?;
            (Some(unescape_quoted(&q[..end])), q[end + 1..].trim_start())
        } else if let Some(lt) = s.find('<') {
            // An unquoted display name is a series of tokens (RFC 3261
            // 25.1); anything else must be quoted (RFC 4475 3.1.2.15).
            let d = s[..lt].trim();
            if !d
                .bytes()
                .all(|b| is_token_char(b) || b == b' ' || b == b'\t')
            {
                return Err(HeaderError::invalid(
                    NAME,
                    "unquoted display name with non-token characters",
                ));
            }
            (
                if d.is_empty() {
                    None
                } else {
                    Some(d.to_string())
                },
                &s[lt..],
            )
        } else {
            (None, s)
        };
        if let Some(inner) = rest.strip_prefix('<') {
            let gt = inner
                .find('>')
                .ok_or(HeaderError::invalid(NAME, "missing '>'"))?;
            let uri_text = &inner[..gt];
            if uri_text.starts_with([' ', '\t']) || uri_text.ends_with([' ', '\t']) {
                // RFC 4475 3.1.2.14: no LWS inside the angle brackets.
                return Err(HeaderError::invalid(NAME, "whitespace inside <>"));
            }
            let uri = Uri::parse(uri_text)?;
            let after = inner[gt + 1..].trim();
            let params = match after {
                "" => Params::default(),
                p => Params::parse(p.strip_prefix(';').ok_or(HeaderError::invalid(
                    NAME,
                    "text after '>' that is not a parameter",
                ))?)?,
            };
            return Ok(NameAddr {
                display,
                uri,
                params,
            });
        }
        if display.is_some() {
            return Err(HeaderError::invalid(NAME, "display name without <uri>"));
        }
        // addr-spec: parameters after the URI belong to the header.
        let (uri, params) = match rest.split_once(';') {
            // LWS may precede the ';' (SEMI = SWS ";" SWS; RFC 4475 3.1.1.1).
            Some((u, p)) => (u.trim_end(), Params::parse(p)?),
            None => (rest, Params::default()),
        };
        if uri.contains([' ', '?', ',']) {
            return Err(HeaderError::invalid(
                NAME,
                "a URI with ',', '?' or spaces must be in <>",
            ));
        }
        Ok(NameAddr {
            display: None,
            uri: Uri::parse(uri)?,
            params,
        })
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&str> {
        self.params.get("tag").filter(|t| !t.is_empty())
    }
}

/// A parameter of a name-addr or addr-spec header value (`tag` of From/To),
/// found without building the typed value: the borrowed, allocation-free
/// path for transaction and dialog matching. Same result as
/// [`NameAddr::parse`] then [`Params::get`] for values that parse.
pub(crate) fn name_addr_param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    // Trimmed exactly as `NameAddr::parse` trims, so both agree.
    let mut rest = value.trim_start();
    if let Some(q) = rest.strip_prefix('"') {
        rest = &q[closing_quote(q)? + 1..];
    }
    let params = match memchr::memchr(b'<', rest.as_bytes()) {
        Some(lt) => {
            let after = &rest[lt..];
            let gt = memchr::memchr(b'>', after.as_bytes())?;
            after[gt + 1..].trim().strip_prefix(';')?
        }
        None => &rest[memchr::memchr(b';', rest.as_bytes())? + 1..],
    };
    param_in(params, name)
}

/// A parameter of a Via value (`branch`), without parsing the Via.
pub(crate) fn via_param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    param_in(&value[memchr::memchr(b';', value.as_bytes())? + 1..], name)
}

/// Looks `name` up in `a=b;c;d="e"` the way [`Params::get`] does, but
/// returns `None` for an empty value as `tag()` and `branch()` do.
fn param_in<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    for piece in split_outside_quotes(params, b';') {
        let piece = piece.trim_ascii();
        let (k, v) = match memchr::memchr(b'=', piece.as_bytes()) {
            Some(eq) => (piece[..eq].trim_ascii(), piece[eq + 1..].trim_ascii()),
            None => (piece, ""),
        };
        if k.eq_ignore_ascii_case(name) {
            let v = unquote_str(v);
            return if v.is_empty() { None } else { Some(v) };
        }
    }
    None
}

fn closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, b) in s.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => return Some(i),
            _ => {}
        }
    }
    None
}

fn unescape_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            f.write_str("\"")?;
            for c in d.chars() {
                if c == '"' || c == '\\' {
                    f.write_str("\\")?;
                }
                write!(f, "{c}")?;
            }
            f.write_str("\" ")?;
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

/// One Via value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Via {
    /// Transport token, upper case (`UDP`, `TCP`, `TLS`, `WS`...).
    pub transport: String,
    /// The sent-by host.
    pub host: Host,
    /// The sent-by port.
    pub port: Option<u16>,
    /// Parameters: branch, received, rport, maddr, ttl...
    pub params: Params,
}

impl Via {
    /// Parses one Via value, allowing whitespace around `/` and `:` as
    /// RFC 3261's LWS rules do.
    pub fn parse(s: &str) -> Result<Via, HeaderError> {
        const NAME: &str = "Via";
        let (proto, rest) = s
            .split_once('/')
            .ok_or(HeaderError::invalid(NAME, "no sent-protocol"))?;
        if !proto.trim().eq_ignore_ascii_case("SIP") {
            return Err(HeaderError::invalid(NAME, "protocol is not SIP"));
        }
        let (version, rest) = rest
            .split_once('/')
            .ok_or(HeaderError::invalid(NAME, "no transport"))?;
        if version.trim() != "2.0" {
            return Err(HeaderError::invalid(NAME, "version is not 2.0"));
        }
        let rest = rest.trim_start();
        let t_end = rest
            .find(|c: char| c.is_ascii_whitespace())
            .ok_or(HeaderError::invalid(NAME, "no sent-by after the transport"))?;
        let transport = &rest[..t_end];
        if transport.is_empty() || !transport.bytes().all(is_token_char) {
            return Err(HeaderError::invalid(NAME, "invalid transport"));
        }
        let rest = rest[t_end..].trim_start();
        let (sent_by, params) = match rest.split_once(';') {
            Some((h, p)) => (h, Params::parse(p)?),
            None => (rest, Params::default()),
        };
        // LWS may surround the ':' of sent-by; only then is a copy needed.
        let sent_by = sent_by.trim();
        let (host, port) = if sent_by.contains(|c: char| c.is_ascii_whitespace()) {
            let compact: String = sent_by
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            split_sent_by(&compact)?
        } else {
            split_sent_by(sent_by)?
        };
        Ok(Via {
            transport: transport.to_ascii_uppercase(),
            host,
            port,
            params,
        })
    }

    /// The branch parameter.
    pub fn branch(&self) -> Option<&str> {
        self.params.get("branch").filter(|b| !b.is_empty())
    }

    /// The received parameter (RFC 3261 18.2.1).
    pub fn received(&self) -> Option<&str> {
        self.params.get("received")
    }

    /// The rport parameter (RFC 3581): `None` if absent, `Some(None)` if
    /// present without a value.
    pub fn rport(&self) -> Option<Option<u16>> {
        if !self.params.contains("rport") {
            return None;
        }
        Some(self.params.get("rport").and_then(|p| p.parse().ok()))
    }
}

fn split_sent_by(s: &str) -> Result<(Host, Option<u16>), HeaderError> {
    const NAME: &str = "Via";
    let (host, port) = if s.starts_with('[') {
        match s.rfind("]:") {
            Some(i) => (&s[..=i], Some(&s[i + 2..])),
            None => (s, None),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let host = parse_host(host)?;
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .map_err(|_| HeaderError::invalid(NAME, "invalid port"))
        })
        .transpose()?;
    Ok((host, port))
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)
    }
}

/// The CSeq header: sequence number and method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CSeq {
    /// The sequence number (less than 2^31, RFC 3261 8.1.1.5).
    pub seq: u32,
    /// The method, which must match the request's.
    pub method: Method,
}

impl CSeq {
    /// Parses `4711 INVITE`.
    pub fn parse(s: &str) -> Result<CSeq, HeaderError> {
        let mut parts = s.split_ascii_whitespace();
        let (Some(n), Some(m), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(HeaderError::invalid(
                "CSeq",
                "expected a number and a method",
            ));
        };
        let seq = parse_u31(n).ok_or(HeaderError::invalid("CSeq", "number out of range"))?;
        let method =
            Method::from_token(m).map_err(|_| HeaderError::invalid("CSeq", "invalid method"))?;
        Ok(CSeq { seq, method })
    }
}

fn parse_u31(n: &str) -> Option<u32> {
    if n.is_empty() || n.len() > 10 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse::<u32>().ok().filter(|v| *v < 1 << 31)
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// The RAck header of a PRACK (RFC 3262).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RAck {
    /// The RSeq being acknowledged.
    pub rseq: u32,
    /// The CSeq number of the INVITE.
    pub cseq: u32,
    /// The method of the INVITE (always INVITE in practice).
    pub method: Method,
}

impl RAck {
    /// Parses `776656 1 INVITE`.
    pub fn parse(s: &str) -> Result<RAck, HeaderError> {
        let mut parts = s.split_ascii_whitespace();
        let (Some(r), Some(c), Some(m), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(HeaderError::invalid(
                "RAck",
                "expected RSeq, CSeq and method",
            ));
        };
        Ok(RAck {
            rseq: r
                .parse()
                .map_err(|_| HeaderError::invalid("RAck", "invalid RSeq"))?,
            cseq: parse_u31(c).ok_or(HeaderError::invalid("RAck", "invalid CSeq"))?,
            method: Method::from_token(m)
                .map_err(|_| HeaderError::invalid("RAck", "invalid method"))?,
        })
    }
}

/// Session-Expires (RFC 4028).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionExpires {
    /// Interval in seconds.
    pub delta: u32,
    /// `uac` or `uas`, if given.
    pub refresher: Option<String>,
}

impl SessionExpires {
    /// Parses `1800;refresher=uac`.
    pub fn parse(s: &str) -> Result<SessionExpires, HeaderError> {
        let (d, p) = s.split_once(';').unwrap_or((s, ""));
        let delta = d
            .trim()
            .parse()
            .map_err(|_| HeaderError::invalid("Session-Expires", "invalid interval"))?;
        let params = Params::parse(p)?;
        Ok(SessionExpires {
            delta,
            refresher: params.get("refresher").map(str::to_ascii_lowercase),
        })
    }
}

/// A Reason value (RFC 3326): why a call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reason {
    /// `SIP` or `Q.850`.
    pub protocol: String,
    /// The cause code.
    pub cause: Option<u16>,
    /// The human-readable text.
    pub text: Option<String>,
}

impl Reason {
    /// Parses `Q.850;cause=16;text="Normal call clearing"`.
    pub fn parse(s: &str) -> Result<Reason, HeaderError> {
        let (proto, p) = s.split_once(';').unwrap_or((s, ""));
        let protocol = proto.trim();
        if protocol.is_empty() || !protocol.bytes().all(is_token_char) {
            return Err(HeaderError::invalid("Reason", "invalid protocol"));
        }
        let params = Params::parse(p)?;
        let cause = params
            .get("cause")
            .map(|c| {
                c.parse()
                    .map_err(|_| HeaderError::invalid("Reason", "invalid cause"))
            })
            .transpose()?;
        Ok(Reason {
            protocol: protocol.to_string(),
            cause,
            text: params.get("text").map(unescape_quoted),
        })
    }
}

/// Comma-separated `name=value` auth parameters with quotes removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthParams(Vec<(String, String)>);

impl AuthParams {
    fn parse(s: &str, header: &'static str) -> Result<AuthParams, HeaderError> {
        let mut out = Vec::new();
        for piece in split_outside_quotes(s, b',') {
            let piece = piece.trim();
            if piece.is_empty() {
                continue;
            }
            let (k, v) = piece
                .split_once('=')
                .ok_or(HeaderError::invalid(header, "auth parameter without '='"))?;
            let v = v.trim();
            let v = if v.starts_with('"') {
                if v.len() < 2 || !v.ends_with('"') {
                    return Err(HeaderError::invalid(header, "unterminated quoted value"));
                }
                unescape_quoted(&v[1..v.len() - 1])
            } else {
                v.to_string()
            };
            out.push((k.trim().to_ascii_lowercase(), v));
        }
        Ok(AuthParams(out))
    }

    /// A parameter's unquoted value (names are case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A WWW-Authenticate or Proxy-Authenticate challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme, usually `Digest`.
    pub scheme: String,
    /// Its parameters (realm, nonce, opaque, algorithm, qop, stale).
    pub params: AuthParams,
}

impl Challenge {
    /// Parses `Digest realm="x", nonce="y", algorithm=SHA-256, qop="auth"`.
    pub fn parse(s: &str) -> Result<Challenge, HeaderError> {
        let (scheme, params) = split_scheme(s, "WWW-Authenticate")?;
        Ok(Challenge {
            scheme,
            params: AuthParams::parse(params, "WWW-Authenticate")?,
        })
    }

    /// The `algorithm`, upper-cased, `MD5` when absent (RFC 3261 22.4).
    pub fn algorithm(&self) -> String {
        self.params
            .get("algorithm")
            .unwrap_or("MD5")
            .to_ascii_uppercase()
    }

    /// The offered qop values.
    pub fn qop_options(&self) -> Vec<String> {
        self.params
            .get("qop")
            .map(|q| {
                q.split(',')
                    .map(|v| v.trim().to_ascii_lowercase())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Authorization or Proxy-Authorization credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// The scheme, usually `Digest`.
    pub scheme: String,
    /// Its parameters (username, realm, nonce, uri, response, ...).
    pub params: AuthParams,
}

impl Credentials {
    /// Parses `Digest username="a", realm="b", ...`.
    pub fn parse(s: &str) -> Result<Credentials, HeaderError> {
        let (scheme, params) = split_scheme(s, "Authorization")?;
        Ok(Credentials {
            scheme,
            params: AuthParams::parse(params, "Authorization")?,
        })
    }
}

fn split_scheme<'a>(s: &'a str, header: &'static str) -> Result<(String, &'a str), HeaderError> {
    let s = s.trim();
    let end = s.find(|c: char| c.is_ascii_whitespace()).unwrap_or(s.len());
    let scheme = &s[..end];
    if scheme.is_empty() || !scheme.bytes().all(is_token_char) {
        return Err(HeaderError::invalid(header, "invalid auth scheme"));
    }
    Ok((scheme.to_string(), &s[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_with_lws_and_rport() {
        let v = Via::parse("SIP / 2.0 / UDP first.example.com: 4000;ttl=16;maddr=224.2.0.1 ;branch=z9hG4bKa7c6a8dlze.1;rport").unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, Host::Domain("first.example.com".into()));
        assert_eq!(v.port, Some(4000));
        assert_eq!(v.branch(), Some("z9hG4bKa7c6a8dlze.1"));
        assert_eq!(v.rport(), Some(None));
        assert!(Via::parse("SIP/2.0/UDP").is_err());
        assert!(Via::parse("SIP/3.0/UDP h").is_err());
    }

    #[test]
    fn name_addr_forms() {
        let n =
            NameAddr::parse(r#""J Rosenberg \\\"" <sip:jdrosen@example.com>;tag=98asjd8"#).unwrap();
        assert_eq!(n.display.as_deref(), Some(r#"J Rosenberg \""#));
        assert_eq!(n.tag(), Some("98asjd8"));
        let n = NameAddr::parse("sip:a@b.com;tag=x").unwrap();
        assert_eq!(n.tag(), Some("x"));
        assert!(n.uri.as_sip().unwrap().params.get("tag").is_none());
        assert!(NameAddr::parse("\"open <sip:a@b>").is_err());
        assert!(NameAddr::parse("Bob sip:a@b").is_err());
    }

    #[test]
    fn digest_challenge() {
        let c = Challenge::parse(r#"Digest realm="kuulo", nonce="a,b", algorithm=SHA-256, qop="auth,auth-int", stale=FALSE"#).unwrap();
        assert_eq!(c.scheme, "Digest");
        assert_eq!(c.params.get("nonce"), Some("a,b"));
        assert_eq!(c.algorithm(), "SHA-256");
        assert_eq!(c.qop_options(), vec!["auth", "auth-int"]);
    }

    #[test]
    fn cseq_rack_session_reason() {
        assert_eq!(CSeq::parse("  4711   INVITE").unwrap().seq, 4711);
        assert!(CSeq::parse("36893488147419103232 INVITE").is_err());
        assert!(CSeq::parse("1").is_err());
        assert_eq!(RAck::parse("776656 1 INVITE").unwrap().rseq, 776656);
        let se = SessionExpires::parse("1800;refresher=UAC").unwrap();
        assert_eq!((se.delta, se.refresher.as_deref()), (1800, Some("uac")));
        let r = Reason::parse(r#"Q.850;cause=16;text="Normal call clearing""#).unwrap();
        assert_eq!(r.cause, Some(16));
        assert_eq!(r.text.as_deref(), Some("Normal call clearing"));
    }
}
