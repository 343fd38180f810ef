//! The session's codec: turns received payloads into 8 kHz audio for the
//! detector and the recorder, and encodes the DTMF tones it sends.
//!
//! Everything the detector, the recorder and the tone generator see is
//! 8 kHz, whatever the codec: Opus is decoded straight to 8 kHz (libopus
//! does it in the decoder, cheaper than decoding at 48 kHz and resampling)
//! and tones are encoded from 8 kHz.
//!
//! Received packets may hold any whole number of samples from 10 to 120 ms
//! (G.711 at any ptime, Opus packets of 10 to 60 ms or several frames):
//! [`Codec::packet_units`] tells the receive path how much audio a packet
//! carries before it is decoded, and decoding writes every sample of it.

use super::config::SessionError;
use crate::g711::Law;
use crate::jitter::{G711Silence, SilenceDetector};
use crate::opus::{self, OpusDecoder, OpusEncoder, DEFAULT_BITRATE, OPUS_FRAME_UNITS};
use crate::prompt::{FRAME_SAMPLES, NARROWBAND_RATE};
use crate::sdp::AudioCodec;

/// Peak level below which a received G.711 frame is silence, for the
/// jitter buffer's inaudible delay changes.
const SILENCE_PEAK: i32 = 64;

static ULAW_SILENCE: [u8; FRAME_SAMPLES] = [0xFF; FRAME_SAMPLES];
static ALAW_SILENCE: [u8; FRAME_SAMPLES] = [0xD5; FRAME_SAMPLES];

pub(super) struct OpusCodec {
    /// Takes 8 kHz tone frames: DTMF lies well inside narrowband. Made on
    /// the first in-band key: its 40-odd KiB of state would otherwise sit
    /// idle in every call, and survey calls seldom send keys.
    encoder: Option<OpusEncoder>,
    decoder: OpusDecoder,
    silence: &'static [u8],
}

pub(super) enum Codec {
    G711(Law),
    // Boxed: the libopus states live behind pointers anyway, and this keeps
    // G.711 sessions from paying for the larger variant.
    Opus(Box<OpusCodec>),
}

impl Codec {
    pub(super) fn new(codec: AudioCodec) -> Result<Self, SessionError> {
        Ok(match codec {
            AudioCodec::Pcmu => Codec::G711(Law::Ulaw),
            AudioCodec::Pcma => Codec::G711(Law::Alaw),
            AudioCodec::Opus => Codec::Opus(Box::new(OpusCodec {
                encoder: None,
                decoder: OpusDecoder::new(NARROWBAND_RATE)?,
                silence: opus::silence_frame()?,
            })),
        })
    }

    /// RTP clock rate.
    pub(super) fn clock_rate(&self) -> u32 {
        match self {
            Codec::G711(_) => NARROWBAND_RATE,
            Codec::Opus(_) => opus::OPUS_CLOCK_RATE,
        }
    }

    /// RTP timestamp units in one 20 ms frame.
    pub(super) fn frame_units(&self) -> u32 {
        match self {
            Codec::G711(_) => FRAME_SAMPLES as u32,
            Codec::Opus(_) => OPUS_FRAME_UNITS,
        }
    }

    /// One frame of silence, encoded once for all sessions.
    pub(super) fn silence(&self) -> &'static [u8] {
        match self {
            Codec::G711(Law::Ulaw) => &ULAW_SILENCE,
            Codec::G711(Law::Alaw) => &ALAW_SILENCE,
            Codec::Opus(o) => o.silence,
        }
    }

    /// Makes ready to encode tones; called when an in-band key is queued,
    /// so a failure is the caller's error rather than a silent key.
    pub(super) fn prepare_tones(&mut self) -> Result<(), SessionError> {
        if let Codec::Opus(o) = self {
            if o.encoder.is_none() {
                o.encoder = Some(OpusEncoder::new(NARROWBAND_RATE, DEFAULT_BITRATE)?);
            }
        }
        Ok(())
    }

    /// Called when a tone starts, so Opus does not begin it with the
    /// delayed tail of the previous key.
    pub(super) fn start_tone(&mut self) {
        if let Some(encoder) = self.opus_encoder() {
            // A failed reset leaves at most a few ms of the last tone in
            // front of this one; not worth failing the key for.
            let _ = encoder.reset();
        }
    }

    /// Encodes one 8 kHz frame into `out`; `None` if the encoder failed.
    pub(super) fn encode(&mut self, pcm: &[i16; FRAME_SAMPLES], out: &mut [u8]) -> Option<usize> {
        match self {
            Codec::G711(law) => Some(law.encode(pcm, out)),
            Codec::Opus(o) => o.encoder.as_mut()?.encode(pcm, out).ok(),
        }
    }

    fn opus_encoder(&mut self) -> Option<&mut OpusEncoder> {
        match self {
            Codec::Opus(o) => o.encoder.as_mut(),
            Codec::G711(_) => None,
        }
    }

    /// RTP timestamp units of audio in a received payload, without
    /// decoding it; `None` for a payload that carries no audio or that
    /// Opus cannot parse.
    pub(super) fn packet_units(&self, payload: &[u8]) -> Option<u32> {
        match self {
            // One byte per sample (RFC 3551 4.5.14): any length is a packet.
            Codec::G711(_) => u32::try_from(payload.len()).ok().filter(|&n| n > 0),
            Codec::Opus(_) => opus::packet_units(payload).ok(),
        }
    }

    /// 8 kHz samples in the longest packet a jitter buffer with slots of
    /// `max_payload` bytes can hand out.
    pub(super) fn max_packet_samples(&self, max_payload: usize) -> usize {
        match self {
            Codec::G711(_) => max_payload,
            // A few bytes of Opus can carry 120 ms, whatever the slot size.
            Codec::Opus(_) => self.samples_in(opus::MAX_PACKET_UNITS),
        }
    }

    /// 8 kHz samples in `units` RTP timestamp units.
    pub(super) fn samples_in(&self, units: u32) -> usize {
        match self {
            Codec::G711(_) => units as usize,
            Codec::Opus(_) => (units / (opus::OPUS_CLOCK_RATE / NARROWBAND_RATE)) as usize,
        }
    }

    /// Decodes a received payload into the front of `pcm` and returns the
    /// samples written; `None` if it could not be decoded (a payload longer
    /// than `pcm` is cut to fit).
    pub(super) fn decode(&mut self, payload: &[u8], pcm: &mut [i16]) -> Option<usize> {
        match self {
            Codec::G711(law) => Some(law.decode(payload, pcm)),
            Codec::Opus(o) => o.decoder.decode(payload, pcm).ok(),
        }
    }

    /// Fills `pcm` (one lost packet's worth) with what stands in for it.
    pub(super) fn conceal(&mut self, pcm: &mut [i16]) {
        let n = match self {
            // Silence stands in for lost G.711 frames: the recorder and the
            // detector see the gap, and G.711 packet-loss concealment
            // would only help a human listener.
            Codec::G711(_) => 0,
            // Opus must be told of the loss anyway to keep its predictors
            // in step, and its concealment comes for free with that.
            Codec::Opus(o) => o.decoder.conceal(pcm).unwrap_or(0),
        };
        let n = n.min(pcm.len());
        pcm[n..].fill(0);
    }

    pub(super) fn silence_detector(&self) -> RxSilence {
        match self {
            Codec::G711(law) => RxSilence::G711(G711Silence {
                a_law: *law == Law::Alaw,
                threshold: SILENCE_PEAK,
            }),
            Codec::Opus(_) => RxSilence::Opus,
        }
    }
}

/// Tells the jitter buffer which received frames are silence.
#[derive(Debug, Clone, Copy)]
pub(super) enum RxSilence {
    G711(G711Silence),
    /// Opus cannot be judged without decoding, except for packets of at
    /// most two bytes: a table-of-contents byte (and a frame count) with
    /// no coded audio, which is what discontinuous transmission sends.
    Opus,
}

impl SilenceDetector for RxSilence {
    fn is_silence(&mut self, payload: &[u8]) -> bool {
        match self {
            RxSilence::G711(g) => g.is_silence(payload),
            RxSilence::Opus => payload.len() <= 2,
        }
    }
}
