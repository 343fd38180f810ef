//! G.711 mu-law (PCMU) and A-law (PCMA), bit-exact to ITU-T G.711 as
//! implemented by the ITU's own reference software (G.191 STL `g711.c`).
//!
//! Input and output are 16-bit linear samples. G.711 itself is defined on
//! 14-bit (mu-law) and 13-bit (A-law) sign-magnitude values; like G.191 we
//! take the top bits of the 16-bit sample and read negative samples as one's
//! complement (`!x`), so `-1` is "minus zero". Other tools round instead of
//! truncating (sox rounds to 14/13 bits first and, for mu-law, negates
//! rather than complements), which changes the code only for inputs lying
//! within one 14/13-bit step of a decision level; every decoded level
//! encodes to the same code in all of them.
//!
//! Encoding is branch-light (a leading-zero count finds the segment) so the
//! hot path needs no 64 KiB table competing for cache with the jitter buffer;
//! decoding is a 256-entry table lookup.

/// mu-law bias, in 14-bit units (G.711 Table 2a puts segment ends at 2^n - 33).
const ULAW_BIAS: i32 = 33;
/// Largest biased 14-bit mu-law magnitude; anything above clips to the top code.
const ULAW_MAX_BIASED: i32 = 0x1FFF;

/// Encodes one 16-bit linear sample to a mu-law code.
#[inline]
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let x = i32::from(sample);
    // All ones for negative samples, zero otherwise: selects one's complement.
    let sign = x >> 31;
    let biased = (((x ^ sign) >> 2) + ULAW_BIAS).min(ULAW_MAX_BIASED);
    // biased >= 33 has bit 5 set, so the segment is the top bit's index - 5.
    let exp = 26 - biased.leading_zeros() as i32;
    let mantissa = (biased >> (exp + 1)) & 0xF;
    let magnitude = ((exp << 4) | mantissa) as u8;
    // Codes are transmitted inverted; the sign bit is 1 for positive.
    magnitude ^ (0xFF ^ (sign as u8 & 0x80))
}

/// Encodes one 16-bit linear sample to an A-law code.
#[inline]
pub fn linear_to_alaw(sample: i16) -> u8 {
    let x = i32::from(sample);
    let sign = x >> 31;
    // 12-bit magnitude of the 13-bit sign-magnitude value.
    let ix = (x ^ sign) >> 4;
    // Segment 0 and 1 share a step size; segment n >= 1 starts at 16 << (n - 1).
    let exp = (28 - (ix | 1).leading_zeros() as i32).max(0);
    let shift = (exp - 1).max(0);
    let mantissa = (ix >> shift) & 0xF;
    let code = ((exp << 4) | mantissa) as u8 | (!sign as u8 & 0x80);
    // A-law inverts the even bits so that idle lines are not all zeros.
    code ^ 0x55
}

/// Decodes one mu-law code to a 16-bit linear sample.
#[inline]
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_DECODE[usize::from(code)]
}

/// Decodes one A-law code to a 16-bit linear sample.
#[inline]
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_DECODE[usize::from(code)]
}

/// Encodes `input` into `output` as mu-law and returns how many samples
/// were written: `min(input.len(), output.len())`. Never allocates.
pub fn encode_ulaw(input: &[i16], output: &mut [u8]) -> usize {
    let n = input.len().min(output.len());
    for (o, &s) in output[..n].iter_mut().zip(&input[..n]) {
        *o = linear_to_ulaw(s);
    }
    n
}

/// Encodes `input` into `output` as A-law and returns how many samples
/// were written: `min(input.len(), output.len())`. Never allocates.
pub fn encode_alaw(input: &[i16], output: &mut [u8]) -> usize {
    let n = input.len().min(output.len());
    for (o, &s) in output[..n].iter_mut().zip(&input[..n]) {
        *o = linear_to_alaw(s);
    }
    n
}

/// Decodes mu-law `input` into `output` and returns how many samples were
/// written: `min(input.len(), output.len())`. Never allocates.
pub fn decode_ulaw(input: &[u8], output: &mut [i16]) -> usize {
    let n = input.len().min(output.len());
    for (o, &c) in output[..n].iter_mut().zip(&input[..n]) {
        *o = ulaw_to_linear(c);
    }
    n
}

/// Decodes A-law `input` into `output` and returns how many samples were
/// written: `min(input.len(), output.len())`. Never allocates.
pub fn decode_alaw(input: &[u8], output: &mut [i16]) -> usize {
    let n = input.len().min(output.len());
    for (o, &c) in output[..n].iter_mut().zip(&input[..n]) {
        *o = alaw_to_linear(c);
    }
    n
}

/// The G.711 law of a stream, for callers that pick it at run time from
/// the negotiated payload type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Law {
    /// mu-law, RTP payload type 0 (PCMU).
    Ulaw,
    /// A-law, RTP payload type 8 (PCMA).
    Alaw,
}

impl Law {
    /// Encodes like [`encode_ulaw`] or [`encode_alaw`].
    pub fn encode(self, input: &[i16], output: &mut [u8]) -> usize {
        match self {
            Law::Ulaw => encode_ulaw(input, output),
            Law::Alaw => encode_alaw(input, output),
        }
    }

    /// Decodes like [`decode_ulaw`] or [`decode_alaw`].
    pub fn decode(self, input: &[u8], output: &mut [i16]) -> usize {
        match self {
            Law::Ulaw => decode_ulaw(input, output),
            Law::Alaw => decode_alaw(input, output),
        }
    }

    /// The code a silent (zero) sample encodes to, for comfort padding.
    pub fn silence(self) -> u8 {
        match self {
            Law::Ulaw => 0xFF,
            Law::Alaw => 0xD5,
        }
    }
}

const fn ulaw_decode_one(code: u8) -> i16 {
    let m = !code;
    let exp = ((m >> 4) & 7) as i32;
    let mantissa = (m & 0xF) as i32;
    let step = 4 << (exp + 1);
    // Reconstruction is the middle of the decision interval (hence step / 2).
    let magnitude = (0x80 << exp) + step * mantissa + step / 2 - 4 * ULAW_BIAS;
    if code < 0x80 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

const fn alaw_decode_one(code: u8) -> i16 {
    let ix = (code ^ 0x55) & 0x7F;
    let exp = (ix >> 4) as i32;
    let mut mantissa = (ix & 0xF) as i32;
    if exp > 0 {
        mantissa += 16;
    }
    mantissa = (mantissa << 4) + 8;
    if exp > 1 {
        mantissa <<= exp - 1;
    }
    if code > 127 {
        mantissa as i16
    } else {
        -mantissa as i16
    }
}

const fn build_table(ulaw: bool) -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if ulaw {
            ulaw_decode_one(i as u8)
        } else {
            alaw_decode_one(i as u8)
        };
        i += 1;
    }
    t
}

static ULAW_DECODE: [i16; 256] = build_table(true);
static ALAW_DECODE: [i16; 256] = build_table(false);
