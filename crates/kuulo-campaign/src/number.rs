//! Phone numbers as people write them, normalised to E.164.
//!
//! Hand-written rather than built on the `phonenumber` crate: the lists
//! are Finnish, so one national rule set covers every number written
//! without a country code, and a number with one is only checked for E.164
//! form. `phonenumber` would bring a regex engine and the whole
//! libphonenumber database for that, and its parser has panicked on
//! malformed input found by fuzzing (rust-phonenumber issues 32 and 43);
//! this parser is short enough to fuzz and read in one sitting.

use thiserror::Error;

use crate::pseudonym::check_e164;

/// Longest input looked at; anything longer is not a phone number.
const MAX_INPUT: usize = 40;

/// Finland's country code.
const FI: &str = "358";

/// Shortest Finnish national significant number (area code + subscriber).
const FI_MIN_NSN: usize = 6;

/// Longest Finnish national significant number (ITU-T E.164 for +358).
const FI_MAX_NSN: usize = 12;

/// Finnish premium-rate and freephone service prefixes: no resident lives
/// behind them, and calling premium numbers costs the city money.
const FI_SERVICE_PREFIXES: [&str; 3] = ["600", "700", "800"];

/// Why a phone number was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NumberError {
    /// The cell was empty.
    #[error("no phone number; fill in the number or remove the row")]
    Empty,
    /// Longer than any phone number.
    #[error("longer than {MAX_INPUT} characters; put one number per cell")]
    TooLongInput,
    /// Letters (an extension, a name, "x123").
    #[error("contains letters; write only the number (digits, spaces, +, -, parentheses)")]
    Letters,
    /// A character that is neither a digit nor a separator.
    #[error("contains {0:?}; write only digits, spaces, +, -, / and parentheses")]
    BadCharacter(char),
    /// Neither `0`, `+` nor `00` at the start, so the number is ambiguous.
    #[error("starts with neither 0 nor a country code (+358 or 00358); a spreadsheet may have dropped the leading 0")]
    NoPrefix,
    /// Too few digits.
    #[error("too short for a phone number; check that no digits are missing")]
    TooShort,
    /// Too many digits.
    #[error("too long for a phone number; check for two numbers run together")]
    TooLong,
    /// A premium-rate or freephone number (0600, 0700, 0800).
    #[error("a service number (0600/0700/0800), not a resident's line")]
    ServiceNumber,
    /// Not valid E.164 after normalising (for example a country code of 0).
    #[error("not a valid international number")]
    Invalid,
}

/// Normalises a phone number written the Finnish way to E.164.
///
/// Accepted: `040 123 4567`, `0401234567`, `040-123 4567`, `(09) 4255 0326`,
/// `+358 40 1234567`, `+358 (0)40 123 4567`, `00358 40 1234567`; numbers of
/// other countries only with their country code (`+46 8 123 456`).
///
/// ```
/// use kuulo_campaign::normalise_number;
/// assert_eq!(normalise_number("040 123 4567").unwrap(), "+358401234567");
/// assert_eq!(normalise_number("(09) 42550326").unwrap(), "+358942550326");
/// assert!(normalise_number("401234567").is_err());
/// ```
pub fn normalise_number(raw: &str) -> Result<String, NumberError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(NumberError::Empty);
    }
    if raw.len() > MAX_INPUT {
        return Err(NumberError::TooLongInput);
    }
    let mut digits = String::with_capacity(raw.len());
    let mut plus = false;
    for (i, c) in raw.char_indices() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => plus = true,
            ' ' | '\u{a0}' | '-' | '.' | '/' | '(' | ')' => {}
            c if c.is_alphabetic() => return Err(NumberError::Letters),
            c => return Err(NumberError::BadCharacter(c)),
        }
    }
    let international = if plus {
        Some(digits.as_str())
    } else {
        digits.strip_prefix("00")
    };
    match international {
        Some(rest) => match rest.strip_prefix(FI) {
            // `+358 (0)40 ...`: the national trunk 0 is written in brackets.
            Some(nsn) => finnish(nsn.strip_prefix('0').unwrap_or(nsn)),
            None => foreign(rest),
        },
        None => match digits.strip_prefix('0') {
            Some(nsn) => finnish(nsn),
            None => Err(NumberError::NoPrefix),
        },
    }
}

fn finnish(nsn: &str) -> Result<String, NumberError> {
    if nsn.len() < FI_MIN_NSN {
        return Err(NumberError::TooShort);
    }
    if nsn.len() > FI_MAX_NSN {
        return Err(NumberError::TooLong);
    }
    if nsn.starts_with('0') {
        return Err(NumberError::Invalid);
    }
    if FI_SERVICE_PREFIXES.iter().any(|p| nsn.starts_with(p)) {
        return Err(NumberError::ServiceNumber);
    }
    Ok(format!("+{FI}{nsn}"))
}

fn foreign(digits: &str) -> Result<String, NumberError> {
    if digits.len() < 8 {
        return Err(NumberError::TooShort);
    }
    if digits.len() > 15 {
        return Err(NumberError::TooLong);
    }
    let e164 = format!("+{digits}");
    check_e164(&e164).map_err(|_| NumberError::Invalid)?;
    Ok(e164)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finnish_forms() {
        for (raw, want) in [
            ("040 123 4567", "+358401234567"),
            ("0401234567", "+358401234567"),
            ("040-123 4567", "+358401234567"),
            ("+358 40 1234567", "+358401234567"),
            ("+358 (0)40 123 4567", "+358401234567"),
            ("00358401234567", "+358401234567"),
            ("09 4255 0326", "+358942550326"),
            ("(09) 42550326", "+358942550326"),
            (" 050 555 1234 ", "+358505551234"),
            ("+46 8 123 456 78", "+46812345678"),
            ("0046812345678", "+46812345678"),
        ] {
            assert_eq!(normalise_number(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn bad_forms() {
        for (raw, want) in [
            ("", NumberError::Empty),
            ("040 123", NumberError::TooShort),
            ("040 1234 5678 9012", NumberError::TooLong),
            ("040 123 4567 x12", NumberError::Letters),
            ("040#1234567", NumberError::BadCharacter('#')),
            ("401234567", NumberError::NoPrefix),
            ("0800 123 456", NumberError::ServiceNumber),
            ("0600 123 456", NumberError::ServiceNumber),
            ("+0 123 456 789", NumberError::Invalid),
            ("00 0401234567", NumberError::Invalid),
            ("+46 12", NumberError::TooShort),
            ("12+3456789", NumberError::BadCharacter('+')),
            ("ääää", NumberError::Letters),
        ] {
            assert_eq!(normalise_number(raw), Err(want), "{raw}");
        }
        assert_eq!(
            normalise_number(&"1".repeat(41)),
            Err(NumberError::TooLongInput)
        );
    }
}
