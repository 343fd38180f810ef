//! The message parser: start line, header index, body by Content-Length.
//!
//! Each header line is classified in one vectorisable pass (non-ASCII
//! bytes are then checked as UTF-8, control characters refused unless
//! escaped); every header value is a [`Bytes`] slice of the input, and the
//! index is sized from the line count up front, so parsing allocates the
//! same few times whatever the number of headers. Only folded header lines
//! (rare since RFC 3261 deprecated them, but still sent) cost an allocation.

use super::error::ParseError;
use super::headers::{HeaderName, Headers};
use super::typed::is_token_char;
use super::{Method, Request, Response, SipMessage, Uri};
use bytes::{Bytes, BytesMut};

/// The largest message accepted, in bytes. A UDP datagram cannot be larger,
/// and over TCP a larger Content-Length is refused before buffering it.
pub const MAX_MESSAGE_SIZE: usize = 65_535;

/// Upper bound of header entries reserved up front (a 64 KiB datagram of
/// one-byte lines would otherwise reserve far more than it needs).
const MAX_INDEX_RESERVE: usize = 512;

/// Parses one complete message.
pub(crate) fn parse_message(data: Bytes) -> Result<SipMessage, ParseError> {
    if data.len() > MAX_MESSAGE_SIZE {
        return Err(ParseError::TooLarge(data.len()));
    }
    let start = data
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .ok_or(ParseError::Empty)?;

    let mut lines = LineCursor {
        data: &data,
        pos: start,
    };
    let (line_start, line_end) = lines.next_line().ok_or(ParseError::Unterminated)?;
    let start_line =
        std::str::from_utf8(&data[line_start..line_end]).map_err(|_| ParseError::NotUtf8)?;
    let head = parse_start_line(start_line)?;

    // One entry per line is enough unless a line carries a comma-separated
    // list; counting lines first keeps the index to a single allocation
    // whatever the number of headers (the body's lines only over-reserve).
    let line_count = memchr::memchr_iter(b'\n', &data[start..]).count();
    let mut headers = Headers::with_capacity(line_count.min(MAX_INDEX_RESERVE) + 4);
    let mut pending: Option<PendingHeader> = None;
    let mut line_no = 1;
    let body_start = loop {
        let (ls, le) = lines.next_line().ok_or(ParseError::Unterminated)?;
        line_no += 1;
        if ls == le {
            break lines.pos;
        }
        let line = &data[ls..le];
        // One branch-free (vectorised) pass classifies the line; the exact
        // checks run only on the rare lines that need them.
        let (non_ascii, control) = classify(line);
        if non_ascii && std::str::from_utf8(line).is_err() {
            return Err(ParseError::NotUtf8);
        }
        // TEXT-UTF8 excludes control characters other than HTAB (RFC 3261
        // 25.1); a raw NUL in a header is an attack or a bug, never data.
        // A quoted-pair may escape one (`"NUL:\<00>"` is valid, RFC 4475
        // 3.1.1.2), so a control character right after `\` is allowed.
        if control && has_unescaped_control(line) {
            return Err(ParseError::HeaderLine {
                line: line_no,
                reason: "control character in header",
            });
        }
        if line[0] == b' ' || line[0] == b'\t' {
            let p = pending.as_mut().ok_or(ParseError::HeaderLine {
                line: line_no,
                reason: "continuation line before any header",
            })?;
            p.fold(&data, ls, le);
            continue;
        }
        if let Some(p) = pending.take() {
            p.flush(&data, &mut headers);
        }
        let colon = memchr::memchr(b':', line).ok_or(ParseError::HeaderLine {
            line: line_no,
            reason: "no colon",
        })?;
        let name_end = trim_end(line, colon);
        if name_end == 0 || !line[..name_end].iter().all(|&b| is_token_char(b)) {
            return Err(ParseError::HeaderLine {
                line: line_no,
                reason: "invalid header name",
            });
        }
        let vs = ls + colon + 1;
        pending = Some(PendingHeader {
            name: (ls, ls + name_end),
            start: vs,
            end: le,
            folded: None,
        });
    };
    if let Some(p) = pending.take() {
        p.flush(&data, &mut headers);
    }

    let mut body = data.slice(body_start.min(data.len())..);
    let mut content_length: Option<usize> = None;
    for value in headers.get_all(&HeaderName::ContentLength) {
        let n = parse_content_length(value)
            .ok_or_else(|| ParseError::BadContentLength(value.chars().take(20).collect()))?;
        if content_length.is_some_and(|prev| prev != n) {
            return Err(ParseError::BadContentLength("conflicting values".into()));
        }
        content_length = Some(n);
    }
    if let Some(n) = content_length {
        if n > body.len() {
            return Err(ParseError::BodyTruncated {
                expected: n,
                got: body.len(),
            });
        }
        body.truncate(n);
    }

    Ok(match head {
        StartLine::Request(method, uri) => SipMessage::Request(Request {
            method,
            uri,
            headers,
            body,
        }),
        StartLine::Response(status, reason) => SipMessage::Response(Response {
            status,
            reason,
            headers,
            body,
        }),
    })
}

/// Content-Length is `1*DIGIT` (RFC 3261 20.14): no sign, no spaces
/// inside (Rust's integer parsing would accept a leading `+`).
pub(crate) fn parse_content_length(value: &str) -> Option<usize> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

enum StartLine {
    Request(Method, Uri),
    Response(u16, String),
}

fn parse_start_line(line: &str) -> Result<StartLine, ParseError> {
    // Compared as bytes: slicing the str at 4 would panic inside a
    // multi-byte character (found by the fuzzer).
    if line
        .as_bytes()
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"))
    {
        let (version, rest) = line
            .split_once(' ')
            .ok_or(ParseError::StartLine("status line without a status code"))?;
        check_version(version)?;
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let status: u16 = code
            .parse()
            .ok()
            .filter(|c| (100..=699).contains(c) && code.len() == 3)
            .ok_or_else(|| ParseError::BadStatus(code.chars().take(10).collect()))?;
        return Ok(StartLine::Response(status, reason.trim().to_string()));
    }
    let (method, rest) = line.split_once(' ').ok_or(ParseError::StartLine(
        "request line needs method, URI and version",
    ))?;
    let (uri, version) = rest.rsplit_once(' ').ok_or(ParseError::StartLine(
        "request line needs method, URI and version",
    ))?;
    if uri.is_empty() || uri.contains([' ', '\t']) {
        return Err(ParseError::StartLine(
            "Request-URI must be separated by single spaces and contain none",
        ));
    }
    check_version(version)?;
    let method = Method::from_token(method)?;
    let uri = Uri::parse(uri)?;
    if uri.as_sip().is_some_and(|u| u.headers.is_some()) {
        // RFC 3261 19.1.1 (table 1): headers are not allowed in a
        // Request-URI (RFC 4475 3.1.2.11).
        return Err(ParseError::StartLine(
            "Request-URI must not contain headers",
        ));
    }
    Ok(StartLine::Request(method, uri))
}

fn check_version(version: &str) -> Result<(), ParseError> {
    if version.eq_ignore_ascii_case("SIP/2.0") {
        Ok(())
    } else {
        Err(ParseError::BadVersion(version.chars().take(16).collect()))
    }
}

/// Walks the input line by line; a line ends at LF, with an optional CR
/// before it (bare LF is tolerated, as most stacks do).
struct LineCursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl LineCursor<'_> {
    /// The next line's `[start, end)` without its terminator, or `None` when
    /// the input ends before a terminator.
    fn next_line(&mut self) -> Option<(usize, usize)> {
        let rest = self.data.get(self.pos..)?;
        let nl = memchr::memchr(b'\n', rest)?;
        let start = self.pos;
        let mut end = start + nl;
        if end > start && self.data[end - 1] == b'\r' {
            end -= 1;
        }
        self.pos = start + nl + 1;
        Some((start, end))
    }
}

/// Whether `line` has any byte >= 0x80, and any byte < 0x20 or 0x7f (HTAB
/// included). Written without early exit so the compiler vectorises it.
fn classify(line: &[u8]) -> (bool, bool) {
    let (high, ctl) = line.iter().fold((0u8, false), |(high, ctl), &b| {
        (high | b, ctl | (b < 0x20) | (b == 0x7f))
    });
    (high >= 0x80, ctl)
}

/// Whether `line` holds a control character (other than HTAB) that is not
/// the escaped character of a quoted-pair.
fn has_unescaped_control(line: &[u8]) -> bool {
    let mut escaped = false;
    for &b in line {
        if escaped {
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        } else if (b < 0x20 && b != b'\t') || b == 0x7f {
            return true;
        }
    }
    false
}

fn trim_end(line: &[u8], mut end: usize) -> usize {
    while end > 0 && matches!(line[end - 1], b' ' | b'\t') {
        end -= 1;
    }
    end
}

/// A header whose value may continue on folded lines.
struct PendingHeader {
    /// The name's range; the [`HeaderName`] is made when the value is
    /// stored, so it is moved once.
    name: (usize, usize),
    start: usize,
    end: usize,
    folded: Option<BytesMut>,
}

impl PendingHeader {
    fn fold(&mut self, data: &Bytes, ls: usize, le: usize) {
        let buf = self.folded.get_or_insert_with(|| {
            let mut b = BytesMut::with_capacity(self.end - self.start + (le - ls));
            b.extend_from_slice(data[self.start..self.end].trim_ascii_end());
            b
        });
        let cont = data[ls..le].trim_ascii();
        if !cont.is_empty() {
            if !buf.is_empty() {
                buf.extend_from_slice(b" ");
            }
            buf.extend_from_slice(cont);
        }
    }

    fn flush(self, data: &Bytes, headers: &mut Headers) {
        let name = HeaderName::from_slice(data, self.name.0, self.name.1);
        match self.folded {
            Some(buf) => {
                let value = buf.freeze();
                push_value(name, &value, 0, value.len(), headers);
            }
            None => push_value(name, data, self.start, self.end, headers),
        }
    }
}

/// `[start, end)` without the blanks around it.
fn trim_range(src: &[u8], mut start: usize, mut end: usize) -> (usize, usize) {
    while start < end && matches!(src[start], b' ' | b'\t') {
        start += 1;
    }
    while end > start && matches!(src[end - 1], b' ' | b'\t') {
        end -= 1;
    }
    (start, end)
}

/// Stores the value `src[start..end]`, trimmed, split into its elements if
/// the header is a list. Ranges are worked out on the bytes first so each
/// stored value costs exactly one `Bytes::slice`.
fn push_value(name: HeaderName, src: &Bytes, start: usize, end: usize, headers: &mut Headers) {
    let (start, end) = trim_range(src, start, end);
    if !name.is_list() || memchr::memchr(b',', &src[start..end]).is_none() {
        if !name.is_list() || start < end {
            headers.push_bytes(name, src.slice(start..end));
        }
        return;
    }
    split_list(&name, src, start, end, headers);
}

/// Splits a list header at commas outside quoted strings and `<...>`.
fn split_list(name: &HeaderName, src: &Bytes, start: usize, end: usize, headers: &mut Headers) {
    let mut in_quotes = false;
    let mut in_angle = false;
    let mut escaped = false;
    let mut piece_start = start;
    for i in start..end {
        let b = src[i];
        if escaped {
            escaped = false;
            continue;
        }
        match b {
            b'\\' if in_quotes => escaped = true,
            b'"' => in_quotes = !in_quotes,
            b'<' if !in_quotes => in_angle = true,
            b'>' if !in_quotes => in_angle = false,
            b',' if !in_quotes && !in_angle => {
                push_piece(name, src, piece_start, i, headers);
                piece_start = i + 1;
            }
            _ => {}
        }
    }
    push_piece(name, src, piece_start, end, headers);
}

fn push_piece(name: &HeaderName, src: &Bytes, start: usize, end: usize, headers: &mut Headers) {
    let (start, end) = trim_range(src, start, end);
    if start < end {
        headers.push_bytes(name.clone(), src.slice(start..end));
    }
}
