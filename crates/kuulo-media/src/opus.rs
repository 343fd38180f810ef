//! Opus (RFC 6716) through libopus, as RTP carries it (RFC 7587): mono,
//! 20 ms frames, timestamps on a 48 kHz clock whatever the audio rate.
//!
//! libopus comes from the system (Debian's libopus-dev, found by
//! pkg-config) through the `audiopus` binding; these wrappers fix the
//! choices a telephony engine makes once (mono, VoIP tuning, 20 ms) and
//! turn the binding's errors into one small copyable error, so a bad packet
//! from the network costs a counter, never an allocation or a panic.

use std::sync::OnceLock;

use audiopus::coder::{Decoder, Encoder, GenericCtl};
use audiopus::{Application, Bitrate, Channels, SampleRate};
use thiserror::Error;

/// The RTP clock of Opus (RFC 7587 section 4.1): 48 kHz for every audio
/// bandwidth.
pub const OPUS_CLOCK_RATE: u32 = 48_000;
/// RTP timestamp units (and 48 kHz samples) in one 20 ms frame.
pub const OPUS_FRAME_UNITS: u32 = 960;
/// Bit rate prompts and tones are encoded at: wideband speech is clear at
/// 24 kbit/s, and a 20 ms packet stays around 60 bytes.
pub const DEFAULT_BITRATE: i32 = 24_000;
/// Largest frame the encoders here may write. Variable bit rate lets a
/// hard frame (an onset, a tone start) take more than the mean; the cap
/// keeps every packet well inside a session's datagram buffer.
pub const MAX_FRAME_BYTES: usize = 400;

/// What the Opus library refused, and during what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("Opus {operation} failed: {source}")]
pub struct OpusError {
    operation: &'static str,
    #[source]
    source: audiopus::Error,
}

impl OpusError {
    fn at(operation: &'static str) -> impl FnOnce(audiopus::Error) -> Self {
        move |source| OpusError { operation, source }
    }

    /// What was being done: "encoder setup", "encode", "decode", ...
    pub fn operation(&self) -> &'static str {
        self.operation
    }
}

fn sample_rate(rate: u32) -> Result<SampleRate, OpusError> {
    match rate {
        8000 => Ok(SampleRate::Hz8000),
        12000 => Ok(SampleRate::Hz12000),
        16000 => Ok(SampleRate::Hz16000),
        24000 => Ok(SampleRate::Hz24000),
        48000 => Ok(SampleRate::Hz48000),
        other => Err(OpusError {
            operation: "rate selection",
            source: audiopus::Error::InvalidSampleRate(i32::try_from(other).unwrap_or(i32::MAX)),
        }),
    }
}

/// True if Opus can take or give audio at `rate` (8, 12, 16, 24 or 48 kHz).
pub fn is_supported_rate(rate: u32) -> bool {
    sample_rate(rate).is_ok()
}

/// A mono VoIP encoder of 20 ms frames.
pub struct OpusEncoder {
    inner: Encoder,
    frame_samples: usize,
}

impl OpusEncoder {
    /// An encoder taking audio at `input_rate` (8, 12, 16, 24 or 48 kHz;
    /// lower rates simply limit the coded bandwidth) at `bitrate` bit/s.
    pub fn new(input_rate: u32, bitrate: i32) -> Result<Self, OpusError> {
        let mut inner = Encoder::new(sample_rate(input_rate)?, Channels::Mono, Application::Voip)
            .map_err(OpusError::at("encoder setup"))?;
        inner
            .set_bitrate(Bitrate::BitsPerSecond(bitrate))
            .map_err(OpusError::at("encoder setup"))?;
        Ok(OpusEncoder {
            inner,
            frame_samples: input_rate as usize / 50,
        })
    }

    /// Samples in one 20 ms frame at the input rate.
    pub fn frame_samples(&self) -> usize {
        self.frame_samples
    }

    /// Samples of delay the encoder adds, at the input rate: the tail of
    /// the input comes out only after this much more audio.
    pub fn lookahead(&self) -> Result<usize, OpusError> {
        let at_48k = self.inner.lookahead().map_err(OpusError::at("lookahead"))?;
        Ok(at_48k as usize * self.frame_samples / OPUS_FRAME_UNITS as usize)
    }

    /// Encodes one frame into `out`, at most [`MAX_FRAME_BYTES`]; returns
    /// the packet length. Everything this crate sends is 20 ms
    /// ([`frame_samples`](Self::frame_samples)); libopus also takes 2.5,
    /// 5, 10, 40 and 60 ms, which tests use to play peers with other
    /// packet times.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, OpusError> {
        let cap = out.len().min(MAX_FRAME_BYTES);
        self.inner
            .encode(pcm, &mut out[..cap])
            .map_err(OpusError::at("encode"))
    }

    /// Forgets all past input, so the next frame starts clean instead of
    /// carrying the delayed tail of whatever was encoded last.
    pub fn reset(&mut self) -> Result<(), OpusError> {
        self.inner.reset_state().map_err(OpusError::at("reset"))
    }
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder")
            .field("frame_samples", &self.frame_samples)
            .finish_non_exhaustive()
    }
}

/// A mono decoder; stereo packets are mixed down by libopus.
pub struct OpusDecoder {
    inner: Decoder,
}

impl OpusDecoder {
    /// A decoder giving audio at `output_rate` (8, 12, 16, 24 or 48 kHz).
    /// Decoding straight to 8 kHz costs less than decoding at 48 kHz and
    /// resampling, and is what the detector and recorder take.
    pub fn new(output_rate: u32) -> Result<Self, OpusError> {
        let inner = Decoder::new(sample_rate(output_rate)?, Channels::Mono)
            .map_err(OpusError::at("decoder setup"))?;
        Ok(OpusDecoder { inner })
    }

    /// Decodes one packet into `out` and returns the samples written. A
    /// packet longer than `out` holds is an error, as is a malformed one.
    pub fn decode(&mut self, packet: &[u8], out: &mut [i16]) -> Result<usize, OpusError> {
        self.inner
            .decode(Some(packet), out, false)
            .map_err(OpusError::at("decode"))
    }

    /// Fills `out` with the decoder's concealment of a lost packet (it
    /// extrapolates the last audio and fades it out) and keeps its state
    /// in step for the packet after the gap.
    pub fn conceal(&mut self, out: &mut [i16]) -> Result<usize, OpusError> {
        self.inner
            .decode(None::<&[u8]>, out, false)
            .map_err(OpusError::at("concealment"))
    }
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder").finish_non_exhaustive()
    }
}

/// Longest audio one Opus packet may carry (RFC 6716 3.2.5): 120 ms at
/// 48 kHz.
pub const MAX_PACKET_UNITS: u32 = 5760;

/// RTP timestamp units (48 kHz samples) of audio in one Opus packet, read
/// from its table-of-contents byte and frame count without decoding it.
pub fn packet_units(packet: &[u8]) -> Result<u32, OpusError> {
    let n = audiopus::packet::nb_samples(packet, SampleRate::Hz48000)
        .map_err(OpusError::at("packet inspection"))?;
    // libopus returns a negative error code, which the binding hands back
    // cast to usize; RFC 6716 caps a valid packet at 120 ms.
    match u32::try_from(n) {
        Ok(units) if units > 0 && units <= MAX_PACKET_UNITS => Ok(units),
        _ => Err(OpusError {
            operation: "packet inspection",
            source: audiopus::Error::Opus(audiopus::ErrorCode::InvalidPacket),
        }),
    }
}

/// Encodes `samples` at `rate` into 20 ms frames: the packets back to back
/// and the end offset of each. The input is padded with the encoder's
/// lookahead and then to a whole frame, so the last sound is not left in
/// the encoder.
pub(crate) fn encode_frames(
    samples: &[i16],
    rate: u32,
    bitrate: i32,
) -> Result<(Vec<u8>, Vec<u32>), OpusError> {
    let mut encoder = OpusEncoder::new(rate, bitrate)?;
    let n = encoder.frame_samples();
    let padded_len = (samples.len() + encoder.lookahead()?).div_ceil(n) * n;
    let mut input = samples.to_vec();
    input.resize(padded_len, 0);
    let frames = padded_len / n;
    let mut data = Vec::with_capacity(frames * 80);
    let mut ends = Vec::with_capacity(frames);
    let mut packet = [0u8; MAX_FRAME_BYTES];
    for frame in input.chunks_exact(n) {
        let len = encoder.encode(frame, &mut packet)?;
        data.extend_from_slice(&packet[..len]);
        // A prompt of more than 4 GiB of Opus is hours beyond any survey.
        ends.push(u32::try_from(data.len()).unwrap_or(u32::MAX));
    }
    Ok((data, ends))
}

/// One 20 ms Opus packet of digital silence at [`DEFAULT_BITRATE`],
/// encoded the first time it is asked for and shared by every session.
pub fn silence_frame() -> Result<&'static [u8], OpusError> {
    static SILENCE: OnceLock<Result<Box<[u8]>, OpusError>> = OnceLock::new();
    SILENCE
        .get_or_init(|| {
            let mut encoder = OpusEncoder::new(OPUS_CLOCK_RATE, DEFAULT_BITRATE)?;
            let zeros = [0i16; OPUS_FRAME_UNITS as usize];
            let mut packet = [0u8; MAX_FRAME_BYTES];
            let mut len = 0;
            // The first frames of a fresh encoder still carry its start-up
            // state; a later one is what steady silence looks like.
            for _ in 0..5 {
                len = encoder.encode(&zeros, &mut packet)?;
            }
            Ok(packet[..len].into())
        })
        .as_deref()
        .map_err(|e| *e)
}
