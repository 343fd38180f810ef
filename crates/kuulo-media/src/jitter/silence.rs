//! Silence classification, so the buffer changes its delay inaudibly.

/// Tells whether a payload is silence, so delay changes stay inaudible.
pub trait SilenceDetector {
    /// True if dropping or repeating this frame would not be heard.
    fn is_silence(&mut self, payload: &[u8]) -> bool;
}

impl<F: FnMut(&[u8]) -> bool> SilenceDetector for F {
    fn is_silence(&mut self, payload: &[u8]) -> bool {
        self(payload)
    }
}

/// Never reports silence: the delay then changes only on underrun or skip.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSilence;

impl SilenceDetector for NoSilence {
    fn is_silence(&mut self, _: &[u8]) -> bool {
        false
    }
}

/// Silence by peak level of a G.711 payload, without a full decode.
#[derive(Debug, Clone, Copy)]
pub struct G711Silence {
    /// True for A-law (PCMA), false for mu-law (PCMU).
    pub a_law: bool,
    /// Peak linear level (16-bit scale) at or below which a frame is silent.
    pub threshold: i32,
}

impl SilenceDetector for G711Silence {
    fn is_silence(&mut self, payload: &[u8]) -> bool {
        let table = if self.a_law { &A_LAW_MAG } else { &MU_LAW_MAG };
        payload
            .iter()
            .all(|&b| i32::from(table[usize::from(b)]) <= self.threshold)
    }
}

/// Magnitude of each G.711 code, built at compile time: a lookup per byte
/// keeps the check cheaper than the copy of the frame itself.
const MU_LAW_MAG: [u16; 256] = magnitudes(false);
const A_LAW_MAG: [u16; 256] = magnitudes(true);

const fn magnitudes(a_law: bool) -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut b = 0;
    while b < 256 {
        // The segment and mantissa give the magnitude; the sign is moot.
        let mag = if a_law {
            let x = (b as i32) ^ 0x55;
            let (seg, mant) = ((x >> 4) & 7, (x & 0xF) << 4);
            if seg == 0 {
                mant + 8
            } else {
                (mant + 0x108) << (seg - 1)
            }
        } else {
            let x = !(b as i32) & 0xFF;
            ((((x & 0xF) << 3) + 0x84) << ((x >> 4) & 7)) - 0x84
        };
        t[b] = mag as u16;
        b += 1;
    }
    t
}
