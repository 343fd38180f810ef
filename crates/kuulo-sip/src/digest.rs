//! HTTP digest authentication for SIP (RFC 3261 22, RFC 2617, and RFC 8760
//! for SHA-256), client side: answer a 401/407 challenge.

use crate::message::{Challenge, HeaderName};
use md5::Md5;
use sha2::{Digest as _, Sha256};
use std::fmt::Write as _;
use thiserror::Error;

/// A username and password for a realm (any realm when `realm` is `None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigestCredentials {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
    /// Only answer challenges of this realm.
    pub realm: Option<String>,
}

/// Why a challenge cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DigestError {
    /// Not a Digest challenge.
    #[error("unsupported authentication scheme {0:?}; only Digest is supported")]
    Scheme(String),
    /// The algorithm is neither MD5 nor SHA-256 (nor their -sess forms).
    #[error("unsupported digest algorithm {0:?}; use MD5 or SHA-256")]
    Algorithm(String),
    /// Only qop=auth-int was offered.
    #[error("the server offers only qop=auth-int, which is not supported")]
    Qop,
    /// The challenge has no realm or nonce.
    #[error("challenge without {0}")]
    Missing(&'static str),
    /// Our credentials are for a different realm.
    #[error("no credentials for realm {0:?}")]
    Realm(String),
}

#[derive(Clone, Copy)]
enum Algo {
    Md5,
    Sha256,
}

impl Algo {
    fn hex(self, input: &str) -> String {
        let mut out = String::with_capacity(64);
        match self {
            Algo::Md5 => Md5::digest(input.as_bytes()).iter().for_each(|b| {
                let _ = write!(out, "{b:02x}");
            }),
            Algo::Sha256 => Sha256::digest(input.as_bytes()).iter().for_each(|b| {
                let _ = write!(out, "{b:02x}");
            }),
        }
        out
    }
}

/// Computes the value of an Authorization (for 401) or
/// Proxy-Authorization (for 407) header answering `challenge` for a request
/// of `method` to `uri`. `nc` is the nonce count, starting at 1 for each new
/// nonce; `cnonce` is the client nonce to use with qop.
///
/// ```
/// use kuulo_sip::digest::{authorization, DigestCredentials};
/// use kuulo_sip::message::Challenge;
/// let ch = Challenge::parse(r#"Digest realm="kuulo", nonce="abc", qop="auth""#).unwrap();
/// let creds = DigestCredentials { username: "city".into(), password: "s3cret".into(), realm: None };
/// let value = authorization(&ch, &creds, "INVITE", "sip:survey@127.0.0.1", 1, "0a4f113b").unwrap();
/// assert!(value.starts_with("Digest username=\"city\""));
/// assert!(value.contains("nc=00000001"));
/// ```
pub fn authorization(
    challenge: &Challenge,
    creds: &DigestCredentials,
    method: &str,
    uri: &str,
    nc: u32,
    cnonce: &str,
) -> Result<String, DigestError> {
    if !challenge.scheme.eq_ignore_ascii_case("Digest") {
        return Err(DigestError::Scheme(challenge.scheme.clone()));
    }
    let realm = challenge
        .params
        .get("realm")
        .ok_or(DigestError::Missing("realm"))?;
    let nonce = challenge
        .params
        .get("nonce")
        .ok_or(DigestError::Missing("nonce"))?;
    if let Some(want) = &creds.realm {
        if want != realm {
            return Err(DigestError::Realm(realm.to_string()));
        }
    }
    let algorithm = challenge.algorithm();
    let (algo, sess) = match algorithm.as_str() {
        "MD5" => (Algo::Md5, false),
        "MD5-SESS" => (Algo::Md5, true),
        "SHA-256" => (Algo::Sha256, false),
        "SHA-256-SESS" => (Algo::Sha256, true),
        other => return Err(DigestError::Algorithm(other.to_string())),
    };
    let offered = challenge.qop_options();
    let qop = if offered.is_empty() {
        None
    } else if offered.iter().any(|q| q == "auth") {
        Some("auth")
    } else {
        return Err(DigestError::Qop);
    };
    let mut ha1 = algo.hex(&format!("{}:{realm}:{}", creds.username, creds.password));
    if sess {
        ha1 = algo.hex(&format!("{ha1}:{nonce}:{cnonce}"));
    }
    let ha2 = algo.hex(&format!("{method}:{uri}"));
    let nc_hex = format!("{nc:08x}");
    let response = match qop {
        Some(q) => algo.hex(&format!("{ha1}:{nonce}:{nc_hex}:{cnonce}:{q}:{ha2}")),
        None => algo.hex(&format!("{ha1}:{nonce}:{ha2}")),
    };
    let mut out = format!(
        "Digest username=\"{}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", algorithm={}",
        creds.username,
        challenge.params.get("algorithm").unwrap_or("MD5"),
    );
    if let Some(q) = qop {
        let _ = write!(out, ", qop={q}, nc={nc_hex}, cnonce=\"{cnonce}\"");
    }
    if let Some(opaque) = challenge.params.get("opaque") {
        let _ = write!(out, ", opaque=\"{opaque}\"");
    }
    Ok(out)
}

/// The header that carries the answer to a challenge from `status`
/// (401: Authorization, 407: Proxy-Authorization).
pub fn answer_header(status: u16) -> HeaderName {
    if status == 407 {
        HeaderName::ProxyAuthorization
    } else {
        HeaderName::Authorization
    }
}

/// The header that carries the challenge in a `status` response.
pub fn challenge_header(status: u16) -> HeaderName {
    if status == 407 {
        HeaderName::ProxyAuthenticate
    } else {
        HeaderName::WwwAuthenticate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of RFC 2617 section 3.5 (HTTP, qop=auth, MD5).
    #[test]
    fn rfc2617_example() {
        let ch = Challenge::parse(
            r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        )
        .unwrap();
        let creds = DigestCredentials {
            username: "Mufasa".into(),
            password: "Circle Of Life".into(),
            realm: None,
        };
        let v = authorization(&ch, &creds, "GET", "/dir/index.html", 1, "0a4f113b").unwrap();
        assert!(
            v.contains("response=\"6629fae49393a05397450978507c4ef1\""),
            "{v}"
        );
        assert!(v.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""));
    }

    /// RFC 7616 section 3.9.1's SHA-256 example.
    #[test]
    fn rfc7616_sha256_example() {
        let ch = Challenge::parse(
            r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#,
        )
        .unwrap();
        let creds = DigestCredentials {
            username: "Mufasa".into(),
            password: "Circle of Life".into(),
            realm: None,
        };
        let v = authorization(
            &ch,
            &creds,
            "GET",
            "/dir/index.html",
            1,
            "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        )
        .unwrap();
        assert!(
            v.contains(
                "response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\""
            ),
            "{v}"
        );
    }

    #[test]
    fn refuses_what_it_cannot_answer() {
        let creds = DigestCredentials {
            username: "a".into(),
            password: "b".into(),
            realm: Some("other".into()),
        };
        let basic = Challenge::parse("Basic realm=\"x\"").unwrap();
        assert!(matches!(
            authorization(&basic, &creds, "INVITE", "sip:x", 1, "c"),
            Err(DigestError::Scheme(_))
        ));
        let ch = Challenge::parse(r#"Digest realm="x", nonce="n""#).unwrap();
        assert!(matches!(
            authorization(&ch, &creds, "INVITE", "sip:x", 1, "c"),
            Err(DigestError::Realm(_))
        ));
        let ch = Challenge::parse(r#"Digest realm="other", nonce="n", qop="auth-int""#).unwrap();
        assert_eq!(
            authorization(&ch, &creds, "INVITE", "sip:x", 1, "c"),
            Err(DigestError::Qop)
        );
        let ch =
            Challenge::parse(r#"Digest realm="other", nonce="n", algorithm=SHA-512-256"#).unwrap();
        assert!(matches!(
            authorization(&ch, &creds, "INVITE", "sip:x", 1, "c"),
            Err(DigestError::Algorithm(_))
        ));
    }
}
