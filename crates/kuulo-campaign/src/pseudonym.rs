//! Keyed hashes of phone numbers.
//!
//! A plain hash of a phone number is no protection: the Finnish numbering
//! space is small enough to hash every number. Keying the hash with a
//! secret kept only in the store (and deleted at purge) is what makes the
//! pseudonyms safe to hand to analysts.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::StoreError;
use crate::types::Pseudonym;

/// HMAC-SHA256 of `e164` under `secret`, in hex.
pub fn pseudonym(secret: &[u8], e164: &str) -> Pseudonym {
    Pseudonym(keyed_hash(secret, e164))
}

pub(crate) fn keyed_hash(secret: &[u8], e164: &str) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(e164.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// Checks E.164 form: `+`, a non-zero first digit, at most 15 digits.
///
/// The store does not normalise: the same person written two ways would get
/// two pseudonyms, so numbers must be normalised once, at import.
pub fn check_e164(number: &str) -> Result<&str, StoreError> {
    let digits = number.strip_prefix('+').unwrap_or("");
    let ok = (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if ok {
        Ok(number)
    } else {
        Err(StoreError::InvalidNumber(number.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_rfc_4231_test_case_2() {
        // Key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            keyed_hash(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn e164_form() {
        for good in ["+358401234567", "+3589425503", "+12025550123"] {
            assert!(check_e164(good).is_ok(), "{good}");
        }
        for bad in [
            "0401234567",
            "+358 40 123",
            "+0358401234",
            "+",
            "",
            "+1234567890123456",
        ] {
            assert!(check_e164(bad).is_err(), "{bad}");
        }
    }
}
